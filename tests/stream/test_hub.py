"""The hub's fan-out: a stalled client is dropped while the others keep receiving."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import add_broadcaster
from tests.helpers import BROADCASTER, SIGNING_KEY
from tests.sse_client import SSEStream, connect
from twi_overlay import keys
from twi_overlay.app import create_app
from twi_overlay.config import load_settings
from twi_overlay.domain.events import Event
from twi_overlay.ops import metrics
from twi_overlay.web.auth import mint_token


def token(aud: str = "overlay", sub: str = BROADCASTER, ttl: int = 300, key: str = SIGNING_KEY) -> str:
    return mint_token(key, aud, sub, ttl)[0]


async def open_sse(client: Any, aud: str = "overlay", last: str | None = None, **kw: Any) -> SSEStream:
    stream = await connect(client.session, str(client.make_url(f"/{aud}/sse")), token(aud, **kw), last)
    assert stream.response.status == 200, await stream.response.text()
    first = await stream.next()
    assert first.retry == 2000
    return stream


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
