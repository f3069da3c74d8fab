"""SSE streams on a real server: auth, headers, snapshot, replay, ring overflow, restart, audiences,
heartbeats, random disconnects."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from tests.conftest import add_broadcaster, admin_headers
from tests.helpers import BROADCASTER
from tests.sse_client import SSEStream, connect, open_sse, token
from twi_overlay import keys
from twi_overlay.app import create_app
from twi_overlay.config import load_settings
from twi_overlay.ops import metrics


async def bump(client: Any, n: int, name: str = "hits") -> None:
    for _ in range(n):
        r = await client.post(
            "/api/commands", json={"type": "counter.increment", "payload": {"name": name}}, headers=admin_headers()
        )
        assert r.status == 200


def ring_miss() -> float:
    return metrics.SSE_RING_MISS._value.get()


@pytest.mark.parametrize(
    ("aud", "tok", "code"),
    [
        ("overlay", None, "unauthorized"),
        ("overlay", "garbage", "invalid_token"),
        ("overlay", token("admin"), "invalid_token"),  # wrong audience
        ("admin", token("overlay"), "invalid_token"),
        ("overlay", token(ttl=-1), "token_expired"),
        ("overlay", token(key="x" * 40), "invalid_token"),  # signed with another key
        ("overlay", token()[:-2] + "xx", "invalid_token"),  # tampered
        ("overlay", token(sub="31337"), "unknown_broadcaster"),
    ],
)
async def test_auth_failures_are_401_json_and_no_stream(client: Any, aud: str, tok: str | None, code: str) -> None:
    stream = await connect(client.session, str(client.make_url(f"/{aud}/sse")), tok)
    assert stream.response.status == 401
    assert stream.response.content_type == "application/json"
    assert (await stream.response.json())["error"]["code"] == code


async def test_headers_first_frame_and_bearer(client: Any) -> None:
    await bump(client, 2)
    stream = await connect(client.session, str(client.make_url("/admin/sse")), token("admin"), bearer=True)
    r = stream.response
    assert r.status == 200
    assert r.headers["Content-Type"] == "text/event-stream"
    assert r.headers["Cache-Control"] == "no-cache" and r.headers["X-Accel-Buffering"] == "no"
    assert (await stream.next()).retry == 2000
    first = await stream.next()
    assert first.event == "state.replace" and first.data["type"] == "state.replace"
    assert first.data["data"]["counters"] == {"hits": 2}
    assert first.id == client.app[keys.HUB].event_id(client.app[keys.HUB].latest_seq(BROADCASTER))
    await bump(client, 1)
    live = await stream.next_event()
    assert live.event == "counter.updated" and live.data["data"] == {"name": "hits", "value": 3}
    stream.close()


async def test_replay_from_several_resume_points(client: Any) -> None:
    observer = await open_sse(client)  # stays connected: the server's whole sequence
    snap = await observer.next_event()
    await bump(client, 10)
    history = [(f.id, f.data["data"]) for f in await observer.events(10)]
    assert [d["value"] for _, d in history] == list(range(1, 11))
    assert len({i for i, _ in history}) == 10
    for resume_at in (0, 3, 7, 10):
        last = snap.id if resume_at == 0 else history[resume_at - 1][0]
        r = await open_sse(client, last=last)
        expected = history[resume_at:]
        assert [(f.id, f.data["data"]) for f in await r.events(len(expected))] == expected
        await bump(client, 1, name=f"live{resume_at}")
        live = await r.next_event()
        assert live.data["data"]["name"] == f"live{resume_at}"  # no duplicate, no gap, then live
        seen = await observer.next_event()
        assert seen.id == live.id
        history.append((seen.id, seen.data["data"]))
        r.close()
    observer.close()


async def test_ring_overflow_gives_state_replace(aiohttp_client: Any, settings_env: dict[str, str]) -> None:
    client = await aiohttp_client(create_app(load_settings({**settings_env, "SSE_RING_MAX": "5"})))
    await client.app[keys.DB].write(add_broadcaster)
    s = await open_sse(client)
    snap = await s.next_event()
    s.close()
    await bump(client, 8)
    misses = ring_miss()
    r = await open_sse(client, last=snap.id)
    f = await r.next_event()
    assert f.event == "state.replace" and f.data["data"]["counters"] == {"hits": 8}
    assert ring_miss() == misses + 1
    for bad in ("nonsense", "", "deadbeef-3", client.app[keys.HUB].event_id(10_000)):
        x = await open_sse(client, last=bad) if bad else await open_sse(client)
        assert (await x.next_event()).event == "state.replace"
        x.close()
    r.close()


async def test_resume_after_a_restart_gives_state_replace(aiohttp_client: Any, settings: Any) -> None:
    app1 = create_app(settings)
    c1 = await aiohttp_client(app1)
    await app1[keys.DB].write(add_broadcaster)
    s = await open_sse(c1)
    await s.next_event()
    await bump(c1, 3)
    last = (await s.events(3))[-1].id
    s.close()
    await c1.close()
    c2 = await aiohttp_client(create_app(settings))  # same database file, new process state
    misses = ring_miss()
    r = await open_sse(c2, last=last)
    f = await r.next_event()
    assert f.event == "state.replace" and f.data["data"]["counters"] == {"hits": 3}
    assert f.id != last and ring_miss() == misses + 1
    await bump(c2, 1)
    assert (await r.next_event()).data["data"]["value"] == 4
    r.close()


async def test_overlay_gets_public_events_only(client: Any) -> None:
    overlay = await open_sse(client, "overlay")
    admin = await open_sse(client, "admin")
    await client.post(
        "/api/commands",
        headers=admin_headers(),
        json={
            "type": "settings.update",
            "payload": {"version": 1, "settings": {"rewards": {"secret-reward": "queue"}}},
        },
    )
    r = await client.post(
        "/_debug/mock/redemption",
        headers=admin_headers(),
        json={"reward_id": "secret-reward", "user_name": "Viewer", "user_input": "hi"},
    )
    assert r.status == 202
    await client.app[keys.PROCESSOR].drain()
    await bump(client, 1)
    admin_frames = await admin.events(1 + 2 + 2 + 2)  # snapshot, settings+log, enqueue+log, counter+log
    overlay_frames = await overlay.events(1 + 1 + 1 + 1)
    assert [f.event for f in overlay_frames] == [
        "state.replace",
        "settings.updated",
        "queue.enqueued",
        "counter.updated",
    ]
    assert {f.event for f in admin_frames} >= {"command.logged", "queue.enqueued", "settings.updated"}
    raw_overlay = b"".join(str(f.data).encode() for f in overlay_frames)
    for forbidden in (b"secret-reward", b"user_id", b"user_login", b"redemption_id", b"command.logged", b"token"):
        assert forbidden not in raw_overlay, forbidden
    enq = next(f for f in admin_frames if f.event == "queue.enqueued")
    assert enq.data["data"]["entry"]["reward_id"] == "secret-reward"
    assert set(overlay_frames[2].data["data"]["entry"]) == {
        "id",
        "position",
        "status",
        "user_name",
        "user_input",
        "enqueued_at",
    }
    overlay.close()
    admin.close()


async def test_heartbeat(aiohttp_client: Any, settings_env: dict[str, str]) -> None:
    client = await aiohttp_client(create_app(load_settings({**settings_env, "SSE_HEARTBEAT_SECS": "0.05"})))
    await client.app[keys.DB].write(add_broadcaster)
    s = await open_sse(client)
    await s.next_event()
    f = await s.next(timeout=2)
    assert f.comment == "heartbeat" and f.event is None
    s.close()


async def test_random_disconnects_end_with_exactly_the_servers_sequence(client: Any) -> None:
    rng = random.Random(1234)
    total = 300
    n_clients = 12
    done = asyncio.Event()

    async def follower(k: int) -> list[int]:
        seen: list[int] = []
        last: str | None = None
        stream: SSEStream | None = None
        while True:
            stream = await open_sse(client, "admin" if k % 2 else "overlay", last=last)
            try:
                while True:
                    f = await stream.next_event(timeout=10)
                    last = f.id
                    if f.event == "state.replace":
                        # A snapshot: the counter value is the state; no events can be counted from it.
                        seen = list(range(1, f.data["data"]["counters"].get("seq", 0) + 1))
                    elif f.event == "counter.updated":
                        seen.append(f.data["data"]["value"])
                    if seen and seen[-1] == total:
                        return seen
                    if rng.random() < 0.05:
                        break  # disconnect at a random point and resume with Last-Event-ID
            finally:
                stream.close()

    tasks = [asyncio.create_task(follower(k)) for k in range(n_clients)]
    await asyncio.sleep(0.05)
    for _ in range(total):
        r = await client.post(
            "/api/commands", json={"type": "counter.increment", "payload": {"name": "seq"}}, headers=admin_headers()
        )
        assert r.status == 200
        if rng.random() < 0.3:
            await asyncio.sleep(0)
    done.set()
    results = await asyncio.wait_for(asyncio.gather(*tasks), 60)
    for seen in results:
        assert seen == list(range(1, total + 1))
