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


def write_now(response: web.StreamResponse, data: bytes) -> None:
    """`response.write(data)`, done before this returns: no task, no turn of the event loop.

    aiohttp's write hands the bytes to the transport at once and only then may wait, for a transport
    that is paused above its high-water mark to drain. The hub never lets a client's unsent bytes reach
    that mark (it drops a client that falls behind instead), so the coroutine finishes at its first
    step. Should it ever wait, the bytes are already in the transport's buffer and the wait is given up:
    the hub's own buffer check decides what happens to a client that does not read."""
    step = response.write(data)
    try:
        step.send(None)
    except StopIteration:
        return
    step.close()


async def open_stream(request: web.Request) -> web.StreamResponse:
    """Send the headers of an event stream; the caller writes frames."""
    response = web.StreamResponse(status=200, headers=HEADERS)
    await response.prepare(request)
    return response
