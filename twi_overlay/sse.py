"""GET /overlay/sse and /admin/sse: auth at connect, replay or snapshot, then live events (SPEC §6)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from twi_overlay import keys, metrics, repo
from twi_overlay.auth import bearer, decode_token
from twi_overlay.background import background
from twi_overlay.db import Tx
from twi_overlay.domain.commands import snapshot
from twi_overlay.errors import ApiError
from twi_overlay.hub import frame

log = logging.getLogger(__name__)
RETRY_MS = 2000
SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}


async def open_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers=SSE_HEADERS)
    await response.prepare(request)
    return response


async def _write(response: web.StreamResponse, data: bytes) -> bool:
    try:
        await response.write(data)
        return True
    except (ConnectionResetError, ConnectionError, RuntimeError):
        return False


def _snapshot_job(tx: Tx, broadcaster_id: str, aud: str, hub: Any, out: dict[str, Any]) -> dict[str, Any]:
    state = snapshot(tx, broadcaster_id, aud)
    # Runs after the COMMIT of this batch, once the events of the jobs before this one are published:
    # the snapshot and this seq describe the same moment.
    tx.after_commit.append(lambda: out.__setitem__("seq", hub.latest_seq(broadcaster_id)))
    return state


async def sse_handler(request: web.Request, aud: str) -> web.StreamResponse:
    app = request.app
    settings = app[keys.SETTINGS]
    hub = app[keys.HUB]
    db = app[keys.DB]
    token = request.query.get("token") or bearer(request)
    if not token:
        raise ApiError(401, "unauthorized", "token required (?token= or Authorization: Bearer)")
    claims = decode_token(settings.sse_token_signing_key, token, aud)
    broadcaster_id = str(claims["sub"])
    if not await db.read(repo.broadcaster_exists, broadcaster_id):
        raise ApiError(401, "unknown_broadcaster", "token subject is not a known broadcaster")

    response = await open_stream(request)
    client = hub.subscribe(broadcaster_id, aud, response, request.transport)
    try:
        if not await _write(response, b"retry: %d\n\n" % RETRY_MS):
            return response
        last_id = request.headers.get("Last-Event-ID") or request.query.get("lastEventId")
        replay = None
        if last_id:
            seen = hub.parse_id(broadcaster_id, last_id)
            replay = hub.frames_after(broadcaster_id, aud, seen) if seen is not None else None
            if replay is None:
                metrics.SSE_RING_MISS.inc()
        if replay is None:
            out: dict[str, Any] = {}
            state = await db.write(_snapshot_job, broadcaster_id, aud, hub, out)
            cursor = out["seq"]
            if not await _write(response, frame(hub.event_id(cursor), "state.replace", state)):
                return response
        else:
            cursor = seen or 0
            if replay and not await _write(response, b"".join(f for _, f in replay)):
                return response
            cursor = replay[-1][0] if replay else cursor
        try:
            live = await hub.go_live(client, cursor)
        except (ConnectionError, RuntimeError):
            return response
        if not live:  # the ring moved past us while we sent the snapshot: the client resumes afresh
            return response
        app[keys.TAP].record(
            "sse",
            "connect",
            broadcaster_id,
            None,
            ok=True,
            aud=aud,
            replayed=len(replay) if replay is not None else None,
        )
        await client.done
        return response
    finally:
        hub.unsubscribe(client)


async def overlay_sse(request: web.Request) -> web.StreamResponse:
    return await sse_handler(request, "overlay")


async def admin_sse(request: web.Request) -> web.StreamResponse:
    return await sse_handler(request, "admin")


async def heartbeat_loop(app: web.Application) -> None:
    """One shared ticker for every stream's `:heartbeat` (not a timer per client)."""
    interval = app[keys.SETTINGS].sse_heartbeat_secs
    while True:
        await asyncio.sleep(interval)
        app[keys.HUB].heartbeat()
        for listener in tuple(app[keys.TAP].listeners):
            listener.pending.append(b":heartbeat\n\n")
            listener.wake.set()


heartbeat_ctx = background("sse-heartbeat", heartbeat_loop)


async def close_streams(app: web.Application) -> None:
    """on_shutdown: end every open stream now, so a restart takes seconds, not aiohttp's 60 s."""
    await app[keys.HUB].close_all()
    app[keys.TAP].close_all()
