"""A small, strict SSE client for tests: frames as the browser's EventSource would parse them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from tests.helpers import BROADCASTER, SIGNING_KEY
from twi_overlay.web.auth import mint_token


@dataclass
class Frame:
    id: str | None = None
    event: str | None = None
    data: Any = None
    comment: str | None = None
    retry: int | None = None


@dataclass
class SSEStream:
    response: aiohttp.ClientResponse
    frames: list[Frame] = field(default_factory=list)

    async def next(self, timeout: float = 5.0) -> Frame:
        return await asyncio.wait_for(self._read_frame(), timeout)

    async def next_event(self, timeout: float = 5.0) -> Frame:
        """The next frame that is an event (skips comments and retry)."""
        while True:
            f = await self.next(timeout)
            if f.event is not None:
                return f

    async def events(self, n: int, timeout: float = 5.0) -> list[Frame]:
        return [await self.next_event(timeout) for _ in range(n)]

    async def _read_frame(self) -> Frame:
        frame = Frame()
        data_lines: list[str] = []
        seen_any = False
        while True:
            raw = await self.response.content.readline()
            if not raw:
                raise EOFError("stream closed")
            line = raw.decode().rstrip("\n").rstrip("\r")
            if line == "":
                if not seen_any:
                    continue
                if data_lines:
                    frame.data = orjson.loads("\n".join(data_lines))
                self.frames.append(frame)
                return frame
            seen_any = True
            if line.startswith(":"):
                frame.comment = line[1:]
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "id":
                frame.id = value
            elif name == "event":
                frame.event = value
            elif name == "data":
                data_lines.append(value)
            elif name == "retry":
                frame.retry = int(value)

    def close(self) -> None:
        self.response.close()

    async def ends(self) -> bool:
        """True when the server ends the stream within a second (heartbeats and events are read past)."""
        try:
            while True:
                await self.next(timeout=1.0)
        except (EOFError, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError):
            return True
        except TimeoutError:
            return False


async def connect(
    session: aiohttp.ClientSession,
    url: str,
    token: str | None = None,
    last_event_id: str | None = None,
    bearer: bool = False,
) -> SSEStream:
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    if token is not None:
        if bearer:
            headers["Authorization"] = f"Bearer {token}"
        else:
            url += ("&" if "?" in url else "?") + "token=" + token
    response = await session.get(url, headers=headers)
    return SSEStream(response)


def token(aud: str = "overlay", sub: str = BROADCASTER, ttl: int = 300, key: str = SIGNING_KEY) -> str:
    """A stream token as POST /api/sse-token mints it."""
    return mint_token(key, aud, sub, ttl)[0]


async def open_sse(client: Any, aud: str = "overlay", last: str | None = None, **kw: Any) -> SSEStream:
    """A stream of the test client's server, past its `retry:` line."""
    stream = await connect(client.session, str(client.make_url(f"/{aud}/sse")), token(aud, **kw), last)
    assert stream.response.status == 200, await stream.response.text()
    first = await stream.next()
    assert first.retry == 2000
    return stream
