"""/api/*: thin handlers — parse, call the domain through the database, answer JSON (docs/api.md)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

import orjson
from aiohttp import web

from twi_overlay import keys, repo
from twi_overlay.domain import settings
from twi_overlay.domain.context import Actor
from twi_overlay.domain.events import admin_event
from twi_overlay.domain.moderators import moderator_may_run
from twi_overlay.domain.outcomes import Outcome, Refused
from twi_overlay.domain.runner import execute
from twi_overlay.domain.state import snapshot
from twi_overlay.ops.jobs import run_maintenance
from twi_overlay.store.tx import Tx
from twi_overlay.stream.access import moderator_credential
from twi_overlay.twitch import subscriptions
from twi_overlay.twitch.catchup import store_helix_reward
from twi_overlay.twitch.client import MODERATION_READ, ReconsentNeeded, TwitchError, wanted_scopes
from twi_overlay.twitch.oauth import revoke_quietly, twitch_of
from twi_overlay.web.auth import (
    AUDIENCES,
    SESSION_COOKIE,
    STREAM_SCOPE,
    admin_principal,
    bot_invite,
    current_overlay_key,
    delete_session,
    is_operator,
    key_id,
    mint_token,
    operator_principal,
    overlay_key_owner,
    rotate_overlay_key,
    sha256_hex,
)
from twi_overlay.web.errors import ApiError, json_response

MAX_IDEMPOTENCY_KEY = 200


async def read_json(request: web.Request, max_bytes: int = 64 * 1024) -> Any:
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send Content-Type: application/json")
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, "payload_too_large", f"body is limited to {max_bytes} bytes")
    # The whole body (aiohttp stops at the app's client_max_size): content.read(n) would return only
    # what has arrived so far, and a body split over two TCP segments would look malformed.
    body = await request.read()
    if len(body) > max_bytes:
        raise ApiError(413, "payload_too_large", f"body is limited to {max_bytes} bytes")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(400, "malformed_json", "body is not valid JSON") from None


async def get_state(request: web.Request) -> web.Response:
    who = await admin_principal(request, moderators=True)
    state = await request.app[keys.DB].read(snapshot, who.broadcaster_id, "admin")
    return json_response(state)


def command_job(
    tx: Tx, broadcaster_id: str, type_: str, payload: Any, key: str | None, actor: Actor | None = None
) -> Outcome:
    """An admin command as a write job (the API and bench/commands.py run it)."""
    return execute(tx, broadcaster_id, type_, payload, source="admin", idempotency_key=key, actor=actor)


async def post_command(request: web.Request) -> web.Response:
    who = await admin_principal(request, moderators=True)
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        raise ApiError(400, "invalid_command", 'body must be {"type": "...", "payload": {...}}')
    if who.moderator and not moderator_may_run(body["type"], body.get("payload", {})):
        raise ApiError(
            403, "broadcaster_only", "moderators run the queue and counters, and open or close the queue; not this"
        )
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        raise ApiError(400, "invalid_idempotency_key", f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} chars")
    started = time.perf_counter()
    outcome = await request.app[keys.DB].write(
        command_job, who.broadcaster_id, body["type"], body.get("payload", {}), key, who.actor
    )
    refused = isinstance(outcome, Refused)
    request.app[keys.TAP].record(
        "command",
        body["type"],
        who.broadcaster_id,
        None,
        ok=not refused,
        ms=(time.perf_counter() - started) * 1000,
        result=outcome.code if isinstance(outcome, Refused) else outcome.result,
    )
    if isinstance(outcome, Refused):
        raise ApiError.refused(outcome)
    helix = request.app.get(keys.HELIX)
    if helix is not None:
        helix.wake()  # a complete/cancel/clear may have queued a status update for Twitch
    return json_response(outcome.answer())


async def list_commands(request: web.Request) -> web.Response:
    who = await admin_principal(request, moderators=True)
    raw = request.query.get("limit", "50")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 500:  # "²".isdigit() is True
        raise ApiError(400, "invalid_limit", "limit must be an integer 1-500")
    rows = await request.app[keys.DB].read(repo.commands.recent, who.broadcaster_id, int(raw))
    return json_response({"data": rows})


async def post_maintenance(request: web.Request) -> web.Response:
    await operator_principal(request)  # the TTL and checkpoint are the whole server's
    return json_response(await run_maintenance(request.app))


async def post_sse_token(request: web.Request) -> web.Response:
    settings_ = request.app[keys.SETTINGS]
    body = await read_json(request, 4096)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", 'send {"key": "<overlay key>"} or {"aud": "overlay|admin"}')
    if "key" in body:
        key = body["key"]
        if not isinstance(key, str) or not key:
            raise ApiError(400, "invalid_request", "key must be a string")
        owner = await request.app[keys.DB].read(overlay_key_owner, key)
        if owner is None:
            raise ApiError(401, "invalid_overlay_key", "overlay key is unknown or was rotated")
        claims = {"scope": STREAM_SCOPE, "kid": key_id(sha256_hex(key))}
        token, exp = mint_token(
            settings_.sse_token_signing_key, "overlay", owner, settings_.sse_token_ttl_secs, claims=claims
        )
        return json_response({"token": token, "exp": exp})
    aud = body.get("aud")
    if aud not in AUDIENCES:
        raise ApiError(400, "invalid_request", 'aud must be "overlay" or "admin"')
    who = await admin_principal(request, moderators=True)
    claims = {"scope": STREAM_SCOPE}
    if who.session_hash is not None:
        claims["sid"] = who.session_hash
    if who.moderator and who.user_id is not None:
        claims["mod"] = who.user_id  # the stream ends when they stop being a moderator (stream/access.py)
    token, exp = mint_token(
        settings_.sse_token_signing_key, aud, who.broadcaster_id, settings_.sse_token_ttl_secs, claims=claims
    )
    return json_response({"token": token, "exp": exp})


async def post_overlay_key(request: web.Request) -> web.Response:
    who = await admin_principal(request)
    settings = request.app[keys.SETTINGS]
    key = await request.app[keys.DB].write(rotate_overlay_key, who.broadcaster_id, settings.sse_token_signing_key)
    # Overlays opened with the old key stop now; their tokens are refused from here on (stream/sse.py).
    request.app[keys.HUB].close_streams(who.broadcaster_id, lambda c: c.credential.startswith("key:"))
    return json_response({"key": key, "url": f"{settings.base_url}/overlay/#key={key}"})


OVERLAY_KEY_MISSING = {
    "no_key": "no overlay key yet: rotate to make one",
    "not_derivable": "this key was made before keys could be shown again: rotate once to see the URL from now on",
    "signing_key_changed": "SSE_TOKEN_SIGNING_KEY changed since this key was made: rotate to get a working URL",
}


async def get_overlay_key(request: web.Request) -> web.Response:
    """The current overlay URL, as often as asked (OBS keeps working): rotating is a separate choice."""
    who = await admin_principal(request)
    settings = request.app[keys.SETTINGS]
    key, why = await request.app[keys.DB].read(current_overlay_key, who.broadcaster_id, settings.sse_token_signing_key)
    if key is None:
        return json_response({"key": None, "url": None, "reason": why, "message": OVERLAY_KEY_MISSING[why]})
    return json_response({"key": key, "url": f"{settings.base_url}/overlay/#key={key}"})


def _rewards_view(tx: Tx, broadcaster_id: str) -> list[dict[str, Any]]:
    bindings = settings.load(tx, broadcaster_id).doc["rewards"]
    return [
        {
            "id": r.id,
            "title": r.title,
            "cost": r.cost,
            "is_paused": r.is_paused,
            "managed": r.managed,
            "binding": bindings.get(r.id),
        }
        for r in repo.rewards.listed(tx, broadcaster_id)
    ]


def _created_reward(tx: Tx, broadcaster_id: str, reward: dict[str, Any], bind: str | None) -> Any:
    store_helix_reward(tx, broadcaster_id, reward)
    repo.rewards.set_managed(tx, broadcaster_id, reward["id"], True)
    if bind:
        version = settings.load(tx, broadcaster_id).version
        outcome = execute(
            tx, broadcaster_id, "settings.update", {"version": version, "settings": {"rewards": {reward["id"]: bind}}}
        )
        if isinstance(outcome, Refused):
            return outcome
    return next(r for r in _rewards_view(tx, broadcaster_id) if r["id"] == reward["id"])


async def post_reward(request: web.Request) -> web.Response:
    """Create an app-owned reward on Twitch (so its redemptions can be fulfilled or refunded)."""
    who = await admin_principal(request)
    body = await read_json(request, 4096)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", 'send {"title": "...", "cost": 100, "bind": "queue"}')
    title, cost, bind = body.get("title"), body.get("cost", 100), body.get("bind")
    if not isinstance(title, str) or not 1 <= len(title.strip()) <= 45:
        raise ApiError(422, "invalid_value", "title: 1-45 characters (Twitch's limit)")
    if type(cost) is not int or cost < 1:
        raise ApiError(422, "invalid_value", "cost: a positive integer")
    if bind is not None and not settings.valid_binding(bind):
        raise ApiError(422, "invalid_value", 'bind: "queue", "counter:<name>" or "ignore"')
    twitch = twitch_of(request.app)
    try:
        reward = await twitch.create_reward(who.broadcaster_id, title.strip(), cost)
    except ReconsentNeeded as exc:
        if exc.message == "not connected to Twitch":  # e.g. the development login: never signed in with Twitch
            raise ApiError(
                409, "needs_reconsent", "this channel is not connected to Twitch: sign in with Twitch first"
            ) from None
        raise ApiError(
            409, "needs_reconsent", "Twitch asks you to sign in again before rewards can be created"
        ) from None
    except TwitchError as exc:
        raise ApiError(502, "twitch_error", f"Twitch refused: {exc.message}") from None
    result = await request.app[keys.DB].write(_created_reward, who.broadcaster_id, reward, bind)
    if isinstance(result, Refused):
        raise ApiError.refused(result)
    return json_response(result, status=201)


async def get_rewards(request: web.Request) -> web.Response:
    who = await admin_principal(request)
    return json_response({"data": await request.app[keys.DB].write(_rewards_view, who.broadcaster_id)})


async def get_history(request: web.Request) -> web.Response:
    who = await admin_principal(request, moderators=True)
    entries = await request.app[keys.DB].read(repo.queue.history, who.broadcaster_id, 50)
    return json_response({"data": [e.admin_view() for e in entries]})


async def get_failed_updates(request: web.Request) -> web.Response:
    """Status updates Twitch refused for good (the admin page offers "retry" on each)."""
    who = await admin_principal(request)
    failed = await request.app[keys.DB].read(repo.helix_jobs.failed, who.broadcaster_id, 100)
    return json_response({"data": [f.view() for f in failed]})


async def get_session(request: web.Request) -> web.Response:
    """Who the admin page is signed in as, and the CSRF token its writes must send.

    Not signed in is an answer here, not an error: the admin page asks before it knows."""
    development = request.app[keys.SETTINGS].development
    try:
        who = await admin_principal(request, moderators=True)
    except ApiError as exc:
        if exc.status != 401:
            raise
        return json_response({"signed_in": False, "development": development})
    b = await request.app[keys.DB].read(repo.broadcasters.get, who.broadcaster_id)
    return json_response(
        {
            "signed_in": True,
            "broadcaster_id": who.broadcaster_id,
            "broadcaster": b,
            "via": who.via,
            "role": who.role,  # broadcaster, or moderator: the page shows the queue and counters only
            "user_name": who.user_name,
            "csrf_token": who.csrf_token,
            "development": development,
            "operator": await is_operator(request, who, b.login if b is not None else ""),
        }
    )


async def post_logout(request: web.Request) -> web.Response:
    """Ends this session and the admin streams opened from it; `{"everywhere": true}` ends every
    session of the broadcaster, and every admin stream opened from one."""
    cookie = request.cookies.get(SESSION_COOKIE)
    body = await read_json(request, 4096) if request.can_read_body else {}
    everywhere = isinstance(body, dict) and body.get("everywhere") is True
    if cookie:
        who = await admin_principal(request, moderators=True)  # CSRF-checked like every other write
        hub = request.app[keys.HUB]
        if everywhere and not who.moderator:  # the broadcaster's own sessions; moderators keep theirs
            await request.app[keys.DB].write(repo.auth.delete_sessions_of, who.broadcaster_id)
            hub.close_streams(who.broadcaster_id, lambda c: c.credential.startswith("session:"))
        else:
            await request.app[keys.DB].write(delete_session, cookie)
            sid = who.session_hash or ""
            mine = (f"session:{sid}", moderator_credential(who.user_id or "", sid))
            hub.close_streams(who.broadcaster_id, lambda c: c.credential in mine)
    response = json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def get_oauth_status(request: web.Request) -> web.Response:
    who = await admin_principal(request)
    grant = await request.app[keys.DB].read(repo.tokens.get, who.broadcaster_id)
    stored = await request.app[keys.DB].read(repo.settings.get, who.broadcaster_id)
    granted = set(grant.scopes) if grant else set()
    status: dict[str, Any] = {
        # What the enabled features need and the grant lacks (chat turned on after signing in): the
        # admin page offers reconsent_url, which asks for them.
        "missing_scopes": [s for s in wanted_scopes(stored.doc if stored else None) if s not in granted],
        "chat_bot": await request.app[keys.DB].read(_chat_bot_view, who.broadcaster_id),
        "connected": bool(grant and grant.scopes),
        "valid": None,
        "scopes": list(grant.scopes) if grant else [],
        "expires_at": grant.expires_at if grant else None,
        "needs_reconsent": grant.needs_reconsent if grant else False,
    }
    twitch = request.app.get(keys.TWITCH)
    checked = twitch.validity.get(who.broadcaster_id) if twitch is not None else None
    if checked is not None:
        status["valid"], status["validated_at"] = checked
    status["reconsent_url"] = f"{request.app[keys.SETTINGS].base_url}/oauth/login"
    return json_response(status)


def _chat_bot_view(tx: Tx, broadcaster_id: str) -> dict[str, Any] | None:
    bot = repo.chat_bots.get(tx, broadcaster_id)
    if bot is None:
        return None
    return {"user_login": bot.user_login, "user_name": bot.user_name, "usable": bot.usable}


async def post_chat_bot_invite(request: web.Request) -> web.Response:
    """A link for the chat bot to sign in with (15 minutes, from any browser)."""
    who = await admin_principal(request)
    conf = request.app[keys.SETTINGS]
    twitch_of(request.app)
    invite, expires_at = bot_invite(conf.sse_token_signing_key, who.broadcaster_id)
    return json_response({"url": f"{conf.base_url}/oauth/login?as=bot&invite={invite}", "expires_at": expires_at})


def _remove_bot(tx: Tx, broadcaster_id: str) -> str | None:
    bot = repo.chat_bots.get(tx, broadcaster_id)
    if bot is None or not repo.chat_bots.remove(tx, broadcaster_id):
        return None
    tx.emit(admin_event(broadcaster_id, "chat.bot_changed", {"bot": None}))
    return bot.access_token


async def delete_chat_bot(request: web.Request) -> web.Response:
    """The channel's own account reads and answers chat again; the bot's token is revoked on Twitch."""
    who = await admin_principal(request)
    token = await request.app[keys.DB].write(_remove_bot, who.broadcaster_id)
    twitch = request.app.get(keys.TWITCH)
    if token and twitch is not None:
        request.app[keys.TASKS].spawn(revoke_quietly(twitch, token), "revoke-chat-bot-token")
    return json_response({"removed": token is not None})


async def get_subscriptions(request: web.Request) -> web.Response:
    """Desired vs actual EventSub subscriptions (from Twitch when configured, else what we recorded)."""
    who = await admin_principal(request)
    twitch = request.app.get(keys.TWITCH)
    if twitch is not None:
        try:
            found = await subscriptions.diff(request.app[keys.DB], twitch)
        except TwitchError as exc:
            raise ApiError(502, "twitch_error", f"Twitch did not list subscriptions: {exc.message}") from None

        def ours(sub: dict[str, Any]) -> bool:
            return (sub.get("condition") or {}).get("broadcaster_user_id") == who.broadcaster_id

        mine = [s for s in found["actual"] if ours(s)]
        # Another channel's subscriptions are not this broadcaster's business, except for an operator.
        stale = found["stale"] if await is_operator(request, who) else [s for s in found["stale"] if ours(s)]
        return json_response(
            {
                "data": [
                    {"id": s["id"], "type": s["type"], "version": s.get("version"), "status": s.get("status")}
                    for s in mine
                ],
                "missing": [m["type"] for m in found["missing"] if ours(m)],
                "stale": [s["id"] for s in stale],
                "summary": f"{sum(1 for s in mine if s.get('status') == 'enabled')} enabled, "
                + subscriptions.summary({"missing": [m for m in found["missing"] if ours(m)], "stale": stale}),
                "transport": _transport_view(request.app),
            }
        )
    subs = [asdict(s) for s in await request.app[keys.DB].read(repo.subscriptions.of_broadcaster, who.broadcaster_id)]
    bad = [s for s in subs if s["status"] != "enabled"]
    summary = (
        "Twitch is not configured: no subscriptions"
        if not subs
        else f"{len(subs) - len(bad)} enabled, {len(bad)} revoked"
        if bad
        else f"{len(subs)} enabled"
    )
    return json_response({"data": subs, "summary": summary, "transport": _transport_view(request.app)})


async def get_moderators(request: web.Request) -> web.Response:
    """The channel's moderators as Twitch lists them; `complete` is false while the grant lacks
    moderation:read (signed in before it was asked for: sign in again)."""
    who = await admin_principal(request)
    db = request.app[keys.DB]
    mods = await db.read(repo.moderators.of_broadcaster, who.broadcaster_id)
    grant = await db.read(repo.tokens.get, who.broadcaster_id)
    complete = grant is not None and MODERATION_READ in grant.scopes
    return json_response(
        {"data": [{"user_login": m.user_login, "user_name": m.user_name} for m in mods], "complete": complete}
    )


def _transport_view(app: web.Application) -> dict[str, Any]:
    """How Twitch reaches us, and with the conduit, each shard's session (the admin page shows it)."""
    conduit = app.get(keys.CONDUIT)
    return conduit.view() if conduit is not None else {"transport": app[keys.SETTINGS].eventsub_transport}


async def post_reconcile(request: web.Request) -> web.Response:
    await operator_principal(request)  # creates and deletes subscriptions of every channel
    twitch = twitch_of(request.app)
    try:
        result = await subscriptions.reconcile(request.app[keys.DB], twitch)
    except TwitchError as exc:
        raise ApiError(502, "twitch_error", f"Twitch refused: {exc.message}") from None
    return json_response(result)


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/logout", post_logout)
    app.router.add_get("/api/oauth/status", get_oauth_status)
    app.router.add_get("/api/subscriptions", get_subscriptions)
    app.router.add_get("/api/moderators", get_moderators)
    app.router.add_post("/api/chat-bot/invite", post_chat_bot_invite)
    app.router.add_delete("/api/chat-bot", delete_chat_bot)
    app.router.add_post("/api/subscriptions/reconcile", post_reconcile)
    app.router.add_get("/api/session", get_session)
    app.router.add_get("/api/state", get_state)
    app.router.add_post("/api/commands", post_command)
    app.router.add_get("/api/commands", list_commands)
    app.router.add_post("/api/maintenance", post_maintenance)
    app.router.add_post("/api/sse-token", post_sse_token)
    app.router.add_post("/api/overlay-key", post_overlay_key)
    app.router.add_get("/api/overlay-key", get_overlay_key)
    app.router.add_get("/api/rewards", get_rewards)
    app.router.add_post("/api/rewards", post_reward)
    app.router.add_get("/api/history", get_history)
    app.router.add_get("/api/twitch-updates/failed", get_failed_updates)
