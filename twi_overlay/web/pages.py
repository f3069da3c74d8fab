"""Pages and development/debug routes: /overlay/, /admin/, dev login, /_debug/mock/*, /_debug/tap."""

from __future__ import annotations

import secrets
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from aiohttp import web

from twi_overlay import keys, repo
from twi_overlay.domain import settings
from twi_overlay.ingest.eventsub import MOCK_PREFIX, REDEMPTION_ADD
from twi_overlay.store.tx import Tx
from twi_overlay.stream import wire
from twi_overlay.web.auth import Principal, admin_principal, is_operator, new_session, set_session_cookie
from twi_overlay.web.errors import ApiError, json_response
from twi_overlay.web.peer import client_address

STATIC = Path(__file__).resolve().parent / "static"  # shipped as package data
DEMO_BROADCASTER = {"id": "10000001", "login": "demo_streamer", "display_name": "Demo_Streamer"}
DEMO_MODERATOR = {"id": "10000002", "login": "demo_mod", "display_name": "Demo_Mod"}
MOCK_REWARD_ID = "mock-queue-reward"


def _page(name: str) -> web.FileResponse:
    return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})


async def overlay_page(request: web.Request) -> web.StreamResponse:
    """The overlay reads its key from the URL fragment (`/overlay/#key=…`), which no browser sends to a
    server, so no access log or proxy ever holds it. The older `?key=` form still works: it is sent on
    to the fragment form, and the page asks the streamer to update the browser source."""
    key = request.query.get("key")
    if key is not None:
        raise web.HTTPFound(f"/overlay/?update_url=1#key={quote(key, safe='')}")
    return _page("overlay.html")


async def admin_page(request: web.Request) -> web.StreamResponse:
    return _page("admin.html")


async def index(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/admin/")


def _require_dev(request: web.Request) -> None:
    if request.app[keys.SETTINGS].production:
        raise ApiError(404, "not_found", f"no route for {request.path}")


async def _debug_guard(request: web.Request) -> Principal | None:
    """/_debug/*: rate-limited; admin-only in production (mocks are 404 there anyway): who that admin is,
    or None in development."""
    if not request.app[keys.DEBUG_LIMITER].allow(client_address(request)):  # behind nginx: who nginx saw
        raise ApiError(429, "rate_limited", "too many debug requests; slow down", {"Retry-After": "1"})
    if request.app[keys.SETTINGS].production:
        return await admin_principal(request)
    return None


def _dev_login(tx: Tx, as_moderator: bool = False) -> tuple[str, str]:
    """The demo broadcaster, whose first settings bind the mock reward to the queue (so the first "Mock
    redemption" joins it). The mock reward is not on Twitch: nothing is ever sent there for it. With
    `as_moderator`, the demo broadcaster's demo moderator (made one here, as Twitch would list them)."""
    b = DEMO_BROADCASTER
    repo.broadcasters.upsert(tx, b["id"], b["login"], b["display_name"])
    if repo.settings.get(tx, b["id"]) is None:
        doc = settings.default_settings()
        doc["rewards"] = {MOCK_REWARD_ID: "queue"}
        repo.settings.insert(tx, b["id"], doc)
    repo.rewards.upsert(tx, b["id"], MOCK_REWARD_ID, title="Mock redemption (development)", cost=100)
    repo.rewards.set_managed(tx, b["id"], MOCK_REWARD_ID, False)
    if as_moderator:
        m = DEMO_MODERATOR
        repo.moderators.add(tx, b["id"], repo.moderators.Moderator(m["id"], m["login"], m["display_name"]))
        return new_session(tx, b["id"], m["display_name"], m["id"])
    return new_session(tx, b["id"], b["display_name"])


async def dev_login(request: web.Request) -> web.StreamResponse:
    """Development only: sign in as a demo broadcaster without Twitch (`?as=moderator`: as its moderator)."""
    _require_dev(request)
    cookie, _csrf = await request.app[keys.DB].write(_dev_login, request.query.get("as") == "moderator")
    response = web.HTTPFound("/admin/")
    set_session_cookie(response, cookie, secure=False)
    raise response


def mock_redemption_body(
    broadcaster_id: str,
    login: str,
    reward_id: str,
    user_name: str,
    user_input: str,
    reward_title: str = "Join the queue",
    cost: int = 100,
) -> dict[str, Any]:
    """A notification shaped like twitch-cli's `add-redemption` (a redemption.add as Twitch sends it)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000000Z"
    user_id = str(secrets.randbelow(99_999_999))
    return {
        "subscription": {
            "id": str(uuid.uuid4()),
            "status": "enabled",
            "type": REDEMPTION_ADD,
            "version": "1",
            "condition": {"broadcaster_user_id": broadcaster_id},
            "transport": {"method": "webhook", "callback": "null"},
            "created_at": now,
            "cost": 0,
        },
        "event": {
            "id": str(uuid.uuid4()),
            "broadcaster_user_id": broadcaster_id,
            "broadcaster_user_login": login,
            "broadcaster_user_name": login,
            "user_id": user_id,
            "user_login": user_name.lower(),
            "user_name": user_name,
            "user_input": user_input,
            "status": "unfulfilled",
            "reward": {"id": reward_id, "title": reward_title, "cost": cost, "prompt": ""},
            "redeemed_at": now,
        },
    }


async def mock_redemption(request: web.Request) -> web.Response:
    """POST /_debug/mock/redemption: a redemption through the same stored-delivery pipeline as the webhook."""
    _require_dev(request)
    await _debug_guard(request)
    who = await admin_principal(request)
    body: Any = {}
    if request.can_read_body:
        try:
            body = orjson.loads(await request.read() or b"{}")
        except orjson.JSONDecodeError:
            raise ApiError(400, "malformed_json", "body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "body must be an object")
    fields = {"reward_id": MOCK_REWARD_ID, "user_name": "viewer" + str(secrets.randbelow(10_000)), "user_input": ""}
    for name in fields:
        value = body.get(name)
        if value is not None:
            if not isinstance(value, str) or not value or len(value) > 500:
                raise ApiError(422, "invalid_value", f"{name}: must be a string of 1-500 characters")
            fields[name] = value
    b = await request.app[keys.DB].read(repo.broadcasters.get, who.broadcaster_id)
    doc = mock_redemption_body(
        who.broadcaster_id, b.login if b else "", fields["reward_id"], fields["user_name"], fields["user_input"]
    )
    message_id = MOCK_PREFIX + str(uuid.uuid4())
    await request.app[keys.DB].write(
        repo.events.insert_one,
        message_id,
        "notification",
        REDEMPTION_ADD,
        who.broadcaster_id,
        orjson.dumps(doc),
        time.time(),
    )
    request.app[keys.TAP].record("ingress", REDEMPTION_ADD, who.broadcaster_id, message_id, ok=True, mock=True)
    request.app[keys.PROCESSOR].wake()
    return json_response(
        {"message_id": message_id, "redemption_id": doc["event"]["id"], "reward_id": fields["reward_id"]}, status=202
    )


async def tap_stream(request: web.Request) -> web.StreamResponse:
    """GET /_debug/tap: pipeline stage events as SSE, with heartbeats: the caller's own broadcaster's,
    or every broadcaster's for an operator (and in development, where it is open)."""
    who = await _debug_guard(request)
    scope = None if who is None or await is_operator(request, who) else who.broadcaster_id
    tap = request.app[keys.TAP]
    listener = tap.listen(scope)
    try:
        response = await wire.open_stream(request)
        await response.write(wire.RETRY + wire.HEARTBEAT)
        while not listener.dropped:
            while listener.pending:
                await response.write(listener.pending.popleft())
            listener.wake.clear()
            if listener.dropped:
                break
            await listener.wake.wait()
        return response
    except (ConnectionResetError, ConnectionError):
        return web.StreamResponse()
    finally:
        tap.forget(listener)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/overlay/", overlay_page)
    app.router.add_get("/admin/", admin_page)
    app.router.add_get("/_debug/login", dev_login)
    app.router.add_post("/_debug/mock/redemption", mock_redemption)
    app.router.add_get("/_debug/tap", tap_stream)
    app.router.add_static("/static/", STATIC, show_index=False)
