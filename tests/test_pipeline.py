"""After the ACK: every handled type processed in arrival order, exactly once, at its pace."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.conftest import admin_headers
from tests.helpers import BROADCASTER, delivery, redemption_body, rfc3339_nano, subscription
from tests.ingest.helpers import bind, raw_count, state
from twi_overlay import keys, pacing, pipeline
from twi_overlay.ingest.eventsub import (
    REDEMPTION_ADD,
    REDEMPTION_UPDATE,
    REWARD_ADD,
    REWARD_REMOVE,
    STREAM_OFFLINE,
    STREAM_ONLINE,
)
from twi_overlay.ops.tap import Tap
from twi_overlay.pipeline import Processor
from twi_overlay.repo.events import STORE_DELIVERY, StoredDelivery
from twi_overlay.store.database import Database

real_sleep = asyncio.sleep


async def _run_until_processed(
    db: Database, monkeypatch: pytest.MonkeyPatch, n: int, streaming: bool
) -> tuple[list[str], list[float]]:
    """n stored deliveries through Processor.run, each taking 4 ms; returns the processing order and
    every pause the processor asked for (its short gather wait aside)."""
    rests: list[float] = []

    async def sleep(seconds: float) -> None:
        if seconds > 0 and seconds != pacing.PROCESS_GATHER_SECS:
            rests.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(pipeline.asyncio, "sleep", sleep)
    processor = Processor(db, Tap())
    processed: list[str] = []
    all_done = asyncio.Event()

    async def process(row: StoredDelivery) -> bool:  # the deliveries of one chunk run at once
        processed.append(row.message_id)
        await real_sleep(0.004)
        if len(processed) == n:
            all_done.set()
        return True  # done: processed (not put back for a retry)

    monkeypatch.setattr(processor, "_process", process)
    rows = [[f"m{i}", "notification", "stream.online", "1337", '{"n": 1}', 1700000000.0] for i in range(n)]
    assert all(await asyncio.gather(*(db.insert_unique(STORE_DELIVERY, row) for row in rows)))
    if streaming:
        processor.ingress()  # a delivery was just acknowledged
    else:
        processor.last_ingress = time.monotonic() - 10  # the last one came 10 s ago
    task = asyncio.create_task(processor.run())
    try:
        await asyncio.wait_for(all_done.wait(), 10)
    finally:
        task.cancel()
    return processed, rests


async def test_while_deliveries_stream_in_processing_rests_three_times_each_chunk(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    processed, rests = await _run_until_processed(db, monkeypatch, 6, streaming=True)
    # Chunks of CHUNK_BUSY (2) deliveries, 4 ms or more each, and a rest of three times the chunk
    # after each: processing takes at most a quarter of the time while ACKs are being written.
    assert processed == [f"m{i}" for i in range(6)]
    assert len(rests) >= 2
    assert all(3 * 0.004 <= rest < 0.5 for rest in rests)


async def test_once_deliveries_stop_processing_runs_without_rests(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    processed, rests = await _run_until_processed(db, monkeypatch, 40, streaming=False)
    assert processed == [f"m{i}" for i in range(40)]
    assert rests == []


async def test_same_redemption_under_a_new_message_id_counts_once(client: Any) -> None:
    await bind(client, binding="counter:hugs")
    body = redemption_body()
    for _ in range(2):  # twitchdev/issues#918: one event, two message ids
        headers, raw = delivery(body)
        assert (await client.post("/eventsub/webhook", data=raw, headers=headers)).status == 204
    await client.app[keys.PROCESSOR].drain()
    assert await raw_count(client) == 2
    assert (await state(client))["counters"] == {"hugs": 1}
    outcomes = await client.app[keys.DB].read(
        lambda tx: [r[0] for r in tx.all("SELECT outcome FROM event_raw ORDER BY id")]
    )
    assert outcomes == ["ok", "duplicate: already processed"]


async def test_every_handled_type_is_normalised(client: Any) -> None:
    await bind(client)
    add = redemption_body(redemption_id="red-1")
    for body in (add,):
        h, raw = delivery(body)
        assert (await client.post("/eventsub/webhook", data=raw, headers=h)).status == 204
    await client.app[keys.PROCESSOR].drain()
    assert len((await state(client))["queue"]) == 1
    reward_event = {
        "id": "reward-x",
        "broadcaster_user_id": BROADCASTER,
        "broadcaster_user_login": "cool_user",
        "broadcaster_user_name": "Cool_User",
        "is_enabled": True,
        "is_paused": False,
        "title": "Hydrate",
        "cost": 300,
        "prompt": "",
        "is_user_input_required": False,
    }
    bodies = [
        {"subscription": subscription(REWARD_ADD), "event": reward_event},
        {
            "subscription": subscription(STREAM_ONLINE),
            "event": {
                "id": "9001",
                "broadcaster_user_id": BROADCASTER,
                "broadcaster_user_login": "cool_user",
                "broadcaster_user_name": "Cool_User",
                "type": "live",
                "started_at": rfc3339_nano(),
            },
        },
        redemption_body(redemption_id="red-1", status="canceled", sub_type=REDEMPTION_UPDATE),
    ]
    for body in bodies:
        h, raw = delivery(body)
        assert (await client.post("/eventsub/webhook", data=raw, headers=h)).status == 204
    await client.app[keys.PROCESSOR].drain()
    s = await state(client)
    assert s["queue"] == [] and s["broadcaster"]["live"] is True
    rewards = (await (await client.get("/api/rewards", headers=admin_headers())).json())["data"]
    assert {"id": "reward-x", "title": "Hydrate", "cost": 300}.items() <= next(
        r for r in rewards if r["id"] == "reward-x"
    ).items()
    history = (await (await client.get("/api/history", headers=admin_headers())).json())["data"]
    assert history[0]["redemption_id"] == "red-1" and history[0]["helix_status"] == "refunded"
    for body in (
        {
            "subscription": subscription(STREAM_OFFLINE),
            "event": {"broadcaster_user_id": BROADCASTER, "broadcaster_user_login": "c", "broadcaster_user_name": "C"},
        },
        {"subscription": subscription(REWARD_REMOVE), "event": reward_event},
    ):
        h, raw = delivery(body)
        assert (await client.post("/eventsub/webhook", data=raw, headers=h)).status == 204
    await client.app[keys.PROCESSOR].drain()
    assert (await state(client))["broadcaster"]["live"] is False
    rewards = (await (await client.get("/api/rewards", headers=admin_headers())).json())["data"]
    assert "reward-x" not in [r["id"] for r in rewards]


async def test_unknown_type_and_unknown_broadcaster_are_stored_and_ignored(client: Any) -> None:
    sub = subscription("channel.follow", version="2")
    h, raw = delivery({"subscription": sub, "event": {"broadcaster_user_id": BROADCASTER}})
    assert (await client.post("/eventsub/webhook", data=raw, headers=h)).status == 204
    await bind(client)
    h, raw = delivery(redemption_body(broadcaster_id="424242"))
    assert (await client.post("/eventsub/webhook", data=raw, headers=h)).status == 204
    await client.app[keys.PROCESSOR].drain()
    outcomes = await client.app[keys.DB].read(
        lambda tx: [r[0] for r in tx.all("SELECT outcome FROM event_raw ORDER BY id")]
    )
    assert outcomes == ["ignored: unhandled type", "ignored: unknown broadcaster"]
    assert (await state(client))["queue"] == []


async def test_revocations(client: Any) -> None:
    def revocation(reason: str) -> dict[str, Any]:
        sub = subscription(REDEMPTION_ADD, status=reason, callback="https://example.com/cb", sub_id=f"sub-{reason}")
        return {"subscription": sub}

    for reason in ("notification_failures_exceeded", "authorization_revoked"):
        h, raw = delivery(revocation(reason), "revocation")
        assert (await client.post("/eventsub/webhook", data=raw, headers=h)).status == 204
    await client.app[keys.PROCESSOR].drain()
    subs = await client.app[keys.DB].read(
        lambda tx: {r["id"]: (r["status"], r["resubscribe"]) for r in tx.all("SELECT * FROM eventsub_subscriptions")}
    )
    assert subs == {
        "sub-notification_failures_exceeded": ("notification_failures_exceeded", 1),
        "sub-authorization_revoked": ("authorization_revoked", 0),
    }
    reconsent = await client.app[keys.DB].read(
        lambda tx: tx.value("SELECT needs_reconsent FROM broadcasters WHERE id = ?", (BROADCASTER,))
    )
    assert reconsent == 1


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    event=st.dictionaries(
        st.sampled_from(["id", "user_id", "user_name", "user_input", "reward", "status", "broadcaster_user_id"]),
        st.one_of(
            st.none(),
            st.integers(),
            st.text(max_size=20),
            st.booleans(),
            st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
        ),
    )
)
async def test_odd_but_signed_payloads_never_break_processing(client: Any, event: dict[str, Any]) -> None:
    body = redemption_body()
    body["event"] = {**body["event"], **event}
    headers, raw = delivery(body)
    r = await client.post("/eventsub/webhook", data=raw, headers=headers)
    assert r.status == 204
    await client.app[keys.PROCESSOR].drain()
    assert (await client.get("/healthz")).status == 200


async def test_processing_follows_arrival_order(client: Any) -> None:
    await bind(client)
    r = await client.post(
        "/api/commands",
        headers=admin_headers(),
        json={"type": "settings.update", "payload": {"version": 2, "settings": {"queue": {"per_user_limit": 100}}}},
    )
    assert r.status == 200, await r.text()
    names = [f"viewer{i:02d}" for i in range(30)]
    for i, name in enumerate(names):
        h, raw = delivery(redemption_body(user_id=str(i), user_name=name))
        assert (await client.post("/eventsub/webhook", data=raw, headers=h)).status == 204
    await client.app[keys.PROCESSOR].drain()
    assert [e["user_name"] for e in (await state(client))["queue"]] == names


async def test_unprocessed_rows_are_processed_at_start(aiohttp_client: Any, settings: Any) -> None:
    """Rows stored but not processed (the process died after the ACK) are processed at the next start."""
    from twi_overlay.app import create_app
    from twi_overlay.store.migrate import migrate
    from twi_overlay.store.sqlite import connect as connect_sync

    migrate(settings.database_path)
    conn = connect_sync(settings.database_path)
    conn.execute(
        "INSERT INTO broadcasters (id, login, display_name, created_at, updated_at) "
        "VALUES (?, 'cool_user', 'Cool_User', 0, 0)",
        (BROADCASTER,),
    )
    conn.execute(
        "INSERT INTO settings (broadcaster_id, version, doc, updated_at) VALUES (?, 1, ?, 0)",
        (
            BROADCASTER,
            orjson.dumps(
                {
                    "queue": {"open": True, "max_length": 50, "per_user_limit": 1},
                    "rewards": {"reward-queue": "queue"},
                    "overlay": {"max_visible": 10, "show_counters": True, "theme": "dark", "animations": True},
                }
            ).decode(),
        ),
    )
    for i in range(3):
        body = redemption_body(user_id=str(i), user_name=f"early{i}")
        conn.execute(
            "INSERT INTO event_raw (message_id, message_type, subscription_type, broadcaster_id, payload,"
            " received_at) VALUES (?, 'notification', ?, ?, ?, ?)",
            (f"m{i}", body["subscription"]["type"], BROADCASTER, orjson.dumps(body), time.time()),
        )
    conn.close()
    client = await aiohttp_client(create_app(settings))
    await client.app[keys.PROCESSOR].drain()
    assert [e["user_name"] for e in (await state(client))["queue"]] == ["early0", "early1", "early2"]


async def test_a_transient_database_error_is_retried_not_marked_failed(client: Any) -> None:
    """The database locked by another process (a deploy's `migrate`, a backup) while a delivery is
    processed: it waits and is processed once the lock is gone, instead of being marked failed for good."""
    import sqlite3

    from twi_overlay.ops import metrics

    await bind(client, binding="counter:hugs")
    db = client.app[keys.DB]
    await db.write(lambda tx: tx.execute("PRAGMA busy_timeout=50"))  # the writer gives up after 50 ms
    body = redemption_body(reward_id="reward-queue")
    other = sqlite3.connect(db.path, isolation_level=None)
    retries = metrics.EVENTSUB_PROCESS_RETRIES._value.get()
    try:
        other.execute(  # a stored delivery the processor has not been told about yet
            "INSERT INTO event_raw (message_id, message_type, subscription_type, broadcaster_id, payload, received_at)"
            " VALUES ('m-locked', 'notification', ?, ?, ?, ?)",
            (body["subscription"]["type"], BROADCASTER, orjson.dumps(body), time.time()),
        )
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        client.app[keys.PROCESSOR].wake()
        for _ in range(500):
            if metrics.EVENTSUB_PROCESS_RETRIES._value.get() > retries:
                break
            await asyncio.sleep(0.01)
        assert metrics.EVENTSUB_PROCESS_RETRIES._value.get() > retries, "processing never met the lock"
    finally:
        if other.in_transaction:
            other.execute("COMMIT")
        other.close()
    await db.write(lambda tx: tx.execute("PRAGMA busy_timeout=5000"))
    await asyncio.wait_for(client.app[keys.PROCESSOR].drain(), 10)
    outcomes = await db.read(lambda tx: [r[0] for r in tx.all("SELECT outcome FROM event_raw")])
    assert outcomes == ["ok"] and (await state(client))["counters"] == {"hugs": 1}
