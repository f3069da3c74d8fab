"""The hub: ids that never outlive the process, the ring, audiences, and a fan-out where a
stalled client is dropped while the others keep receiving."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import add_broadcaster
from tests.helpers import BROADCASTER
from tests.sse_client import open_sse, token
from twi_overlay import keys
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
    import socket

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
