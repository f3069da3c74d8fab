"""GET /overlay/sse and /admin/sse: authenticate, open the stream, hand it to the hub (docs/api.md)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from twi_overlay import keys, repo
from twi_overlay.domain.state import snapshot
from twi_overlay.store.tx import Tx
from twi_overlay.stream.access import moderator_credential
from twi_overlay.stream.hub import Hub
from twi_overlay.stream.wire import open_stream
from twi_overlay.web.auth import bearer, decode_token, key_id
from twi_overlay.web.errors import ApiError
from twi_overlay.web.peer import client_address


def _snapshot_job(tx: Tx, broadcaster_id: str, aud: str, hub: Hub, seq: list[int]) -> dict[str, Any]:
    state = snapshot(tx, broadcaster_id, aud)
    # Runs after the COMMIT of this batch, once the events of the jobs before this one are published:
    # the snapshot and this seq describe the same moment.
    tx.after_commit.append(lambda: seq.append(hub.latest_seq(broadcaster_id)))
    return state


def _refusal(tx: Tx, broadcaster_id: str, kid: Any, sid: Any) -> tuple[str, str] | None:
    """Why a token may not open a stream now: an unknown subject, a rotated overlay key, a session
    that signed out. None when it may."""
    if not repo.broadcasters.exists(tx, broadcaster_id):
        return "unknown_broadcaster", "token subject is not a known broadcaster"
    if kid is not None:
        current = repo.auth.overlay_key_hash(tx, broadcaster_id)
        if current is None or key_id(current) != kid:
            return "overlay_key_rotated", "the overlay key was rotated: use the new overlay URL"
    if sid is not None and repo.auth.get_session(tx, str(sid)) is None:
        return "signed_out", "the session this token came from has signed out"
    return None


async def sse_handler(request: web.Request, aud: str) -> web.StreamResponse:
    app = request.app
    hub = app[keys.HUB]
    db = app[keys.DB]
    token = request.query.get("token") or bearer(request)
    if not token:
        raise ApiError(401, "unauthorized", "token required (?token= or Authorization: Bearer)")
    claims = decode_token(app[keys.SETTINGS].sse_token_signing_key, token, aud)
    broadcaster_id = str(claims["sub"])
    kid, sid = claims.get("kid"), claims.get("sid")
    refusal = await db.read(_refusal, broadcaster_id, kid, sid)
    if refusal is not None:
        raise ApiError(401, *refusal)
    mod = claims.get("mod")
    if mod is not None and sid is not None:
        credential = moderator_credential(str(mod), str(sid))  # ends when they stop being a moderator
    else:
        credential = f"key:{kid}" if kid else f"session:{sid}" if sid else ""
    settings = app[keys.SETTINGS]
    address = client_address(request)
    if hub.streams_of(broadcaster_id) >= settings.sse_max_streams_per_broadcaster:
        raise ApiError(429, "too_many_streams", "this broadcaster has too many open streams", {"Retry-After": "5"})
    if hub.streams_from(address) >= settings.sse_max_streams_per_client:
        raise ApiError(429, "too_many_streams", "too many open streams from your address", {"Retry-After": "5"})

    async def read_snapshot() -> tuple[dict[str, Any], int]:
        seq: list[int] = []
        state = await db.write(_snapshot_job, broadcaster_id, aud, hub, seq)
        return state, seq[0]

    response = await open_stream(request)
    last_id = request.headers.get("Last-Event-ID") or request.query.get("lastEventId")
    client = await hub.connect(
        broadcaster_id, aud, response, request.transport, last_id, read_snapshot, credential, address
    )
    if client is not None:
        app[keys.TAP].record("sse", "connect", broadcaster_id, None, ok=True, aud=aud, replayed=client.replayed)
        await hub.stay(client)
    return response


async def overlay_sse(request: web.Request) -> web.StreamResponse:
    return await sse_handler(request, "overlay")


async def admin_sse(request: web.Request) -> web.StreamResponse:
    return await sse_handler(request, "admin")
