"""The Server-Sent Events wire format, all of it: headers, frames, comments and the retry line.

A frame is `id:` / `event:` / `data:` where data is one line of JSON `{type, ts, data}` (docs/api.md,
"Streams"). orjson never writes a raw newline, so one `data:` line always holds the whole payload.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

RETRY_MS = 2000  # how long a browser's EventSource waits before it reconnects
HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: do not buffer this response
    "Connection": "keep-alive",
}
HEARTBEAT = b":heartbeat\n\n"
RETRY = b"retry: %d\n\n" % RETRY_MS


def frame(event_id: str, type_: str, data: Any, ts: float | None = None) -> bytes:
    body = orjson.dumps({"type": type_, "ts": ts if ts is not None else time.time(), "data": data})
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (event_id.encode(), type_.encode(), body)


def event_frame(type_: str, data: Any) -> bytes:
    """A frame without an id (nothing to resume from): the debug tap."""
    return b"event: %s\ndata: %s\n\n" % (type_.encode(), orjson.dumps(data))


async def open_stream(request: web.Request) -> web.StreamResponse:
    """Send the headers of an event stream; the caller writes frames."""
    response = web.StreamResponse(status=200, headers=HEADERS)
    await response.prepare(request)
    return response
