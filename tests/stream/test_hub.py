"""The hub: ids that never outlive the process, the ring, audiences, and a fan-out where a
stalled client is dropped while the others keep receiving."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from tests.conftest import add_broadcaster
from tests.helpers import BROADCASTER, until
from tests.sse_client import open_sse, token
from twi_overlay import keys, pacing
from twi_overlay.app import create_app
from twi_overlay.config import load_settings
from twi_overlay.domain.events import Event
from twi_overlay.ops import metrics
from twi_overlay.stream.hub import Hub


async def test_stalled_client_is_dropped_while_others_keep_receiving(
    aiohttp_client: Any, settings_env: dict[str, str]
) -> None:
    client = await aiohttp_client(create_app(load_settings({**settings_env, "SSE_CLIENT_BUFFER_BYTES": "32768"})))
    app = client.app
    await app[keys.DB].write(add_broadcaster)
    hub = app[keys.HUB]
    # The stalled client: a raw socket with a tiny receive buffer that never reads.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((client.host, client.port))
    sock.sendall(f"GET /overlay/sse?token={token()} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    healthy = await open_sse(client)
    await healthy.next_event()
    dropped_before = metrics.SSE_DROPPED_CLIENTS._value.get()
    big = "x" * 16_384
    received = 0
    for i in range(2000):
        hub.publish([Event(BROADCASTER, "test.big", {"i": i, "pad": big}, {"i": i, "pad": big})])
        f = await healthy.next_event()  # the healthy client is never held back
        assert f.data["data"]["i"] == i
        received += 1
        if metrics.SSE_DROPPED_CLIENTS._value.get() > dropped_before:
            break
        await asyncio.sleep(0)
    assert metrics.SSE_DROPPED_CLIENTS._value.get() == dropped_before + 1, "stalled client was never dropped"
    assert hub.client_count() == 1
    hub.publish([Event(BROADCASTER, "test.big", {"i": -1}, {"i": -1})])
    assert (await healthy.next_event()).data["data"]["i"] == -1
    healthy.close()
    sock.close()


def test_ids_rings_and_audiences() -> None:
    hub, other_boot = Hub(ring_max=3, client_buffer=65536), Hub(ring_max=3, client_buffer=65536)
    hub.publish([Event(BROADCASTER, "counter.updated", {"v": i}, {"v": i}) for i in range(1, 5)])
    hub.publish([Event(BROADCASTER, "command.logged", {"secret": True}, None)])
    assert hub.latest_seq(BROADCASTER) == 5 and hub.latest_seq("someone-else") == 0
    assert hub.parse_id(BROADCASTER, hub.event_id(4)) == 4
    for stale in (other_boot.event_id(4), hub.event_id(6), "garbage", f"{hub.boot}-x"):
        assert hub.parse_id(BROADCASTER, stale) is None  # another process, the future, nonsense
    assert hub.frames_after(BROADCASTER, "admin", 1) is None  # seq 2 has left the ring of 3
    admin = hub.frames_after(BROADCASTER, "admin", 3)
    overlay = hub.frames_after(BROADCASTER, "overlay", 3)
    assert admin is not None and [seq for seq, _ in admin] == [4, 5]
    assert overlay is not None and [seq for seq, _ in overlay] == [4]  # admin-only events skipped
    assert hub.frames_after(BROADCASTER, "overlay", 5) == []


def _ring_cost(hub: Hub) -> int:
    from twi_overlay.stream.hub import _cost

    return sum(_cost(item) for stream in hub._streams.values() for item in stream.ring)


def test_the_ring_is_bounded_by_bytes_per_broadcaster_and_by_a_budget_for_all() -> None:
    hub = Hub(ring_max=1000, client_buffer=65536, ring_bytes=20_000, budget_bytes=1_000_000)
    pad = "x" * 1000
    for i in range(100):
        hub.publish([Event("b-0", "test.pad", {"i": i, "pad": pad}, None)])
    stream = hub._streams["b-0"]
    assert 15_000 < stream.ring_bytes <= 20_000 and stream.ring[-1][0] == 100
    replay = hub.frames_after("b-0", "admin", 95)
    assert replay is not None and [seq for seq, _ in replay] == [96, 97, 98, 99, 100]
    assert hub.frames_after("b-0", "admin", 50) is None  # gone by the byte bound: a snapshot instead
    # One event larger than the broadcaster's bound is still kept, alone: the newest always is.
    hub.publish([Event("b-0", "test.pad", {"pad": "y" * 50_000}, None)])
    assert [seq for seq, _, _ in stream.ring] == [101] and hub.frames_after("b-0", "admin", 100) is not None
    # Many broadcasters: together they never pass the budget, and the oldest events go first.
    for round_ in range(10):
        for b in range(1, 301):
            hub.publish([Event(f"b-{b}", "test.pad", {"r": round_, "pad": pad}, {"r": round_})])
    assert 900_000 < hub.kept_bytes == _ring_cost(hub) <= 1_000_000
    newest = hub.frames_after("b-300", "overlay", 8)
    assert newest is not None and [seq for seq, _ in newest] == [9, 10]
    assert hub.frames_after("b-1", "admin", 0) is None and not hub._streams["b-0"].ring
    # Events that left by their own broadcaster's bound do not pile up in the global list.
    small = Hub(ring_max=10, client_buffer=65536)
    for i in range(50_000):
        small.publish([Event("b", "counter.updated", {"v": i}, None)])
    assert len(small._kept) < 10_000 and small.kept_bytes == _ring_cost(small)


async def test_one_event_larger_than_the_client_buffer_reaches_every_client(
    aiohttp_client: Any, settings_env: dict[str, str]
) -> None:
    client = await aiohttp_client(create_app(load_settings({**settings_env, "SSE_CLIENT_BUFFER_BYTES": "8192"})))
    await client.app[keys.DB].write(add_broadcaster)
    hub = client.app[keys.HUB]
    streams = [await open_sse(client) for _ in range(3)]
    for s in streams:
        await s.next_event()  # state.replace
    dropped = metrics.SSE_DROPPED_CLIENTS._value.get()
    big = "z" * 200_000
    hub.publish([Event(BROADCASTER, "test.big", {"pad": big}, {"pad": big})])
    hub.publish([Event(BROADCASTER, "test.small", {"i": 1}, {"i": 1})])
    for s in streams:
        assert len((await s.next_event()).data["data"]["pad"]) == 200_000
        assert (await s.next_event()).data["data"] == {"i": 1}
        s.close()
    assert metrics.SSE_DROPPED_CLIENTS._value.get() == dropped


def test_heartbeats_go_to_one_slice_of_the_broadcasters_at_a_time() -> None:
    hub = Hub(ring_max=10, client_buffer=65536)
    due: list[str] = []
    hub._kick = lambda broadcaster_id, stream: due.append(broadcaster_id)  # type: ignore[method-assign]
    for i in range(10):
        hub._stream(f"b{i}").clients.add(object())  # type: ignore[arg-type]
    hub._stream("idle")  # no clients: no heartbeat
    for part in range(3):
        hub.heartbeat(part, 3)
    assert sorted(due) == sorted(f"b{i}" for i in range(10)) and len(due) == 10  # each once per round
    due.clear()
    hub.heartbeat(1, 3)
    assert 3 <= len(due) <= 4


async def _raw_stream(host: str, port: int) -> socket.socket:
    """An SSE stream on a plain non-blocking socket, read up to its snapshot."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    await loop.sock_connect(sock, (host, port))
    await loop.sock_sendall(sock, f"GET /overlay/sse?token={token()} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    seen = b""
    while b"state.replace" not in seen:
        seen += await loop.sock_recv(sock, 65536)
    return sock


def _waiting(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except BlockingIOError:
        return b""


async def test_a_broadcaster_with_few_streams_gets_each_frame_written_within_publish(
    aiohttp_client: Any, settings_env: dict[str, str]
) -> None:
    """No task and no turn of the event loop between an event and its write (with 5,000 broadcasters
    that turn was most of the event → client time); a crowd has a task, and loses it when it thins."""
    client = await aiohttp_client(create_app(load_settings(settings_env)))
    await client.app[keys.DB].write(add_broadcaster)
    hub = client.app[keys.HUB]
    few = [await _raw_stream(client.host, client.port) for _ in range(2)]
    hub.publish([Event(BROADCASTER, "test.now", {"i": 1}, {"i": 1})])
    # Nothing awaited since publish: the bytes are in each client's socket already.
    assert all(b'"i":1' in _waiting(sock) for sock in few)

    crowd = few + [await _raw_stream(client.host, client.port) for _ in range(pacing.FANOUT_INLINE_MAX - 1)]
    hub.publish([Event(BROADCASTER, "test.crowd", {"i": 2}, {"i": 2})])
    for sock in crowd:  # through the crowd's task: every client, in a later turn of the loop
        seen = b""
        while b'"i":2' not in seen:
            seen += await asyncio.get_running_loop().sock_recv(sock, 65536)

    crowd.pop().close()
    await until(lambda: hub.streams_of(BROADCASTER) == pacing.FANOUT_INLINE_MAX)
    await until(lambda: hub._streams[BROADCASTER].task is None or hub._streams[BROADCASTER].task.done())
    hub.publish([Event(BROADCASTER, "test.now", {"i": 3}, {"i": 3})])
    assert all(b'"i":3' in _waiting(sock) for sock in crowd)
    for sock in crowd:
        sock.close()
