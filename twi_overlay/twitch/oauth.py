"""Sign in with Twitch: /oauth/login → Twitch → /oauth/callback (the authorization-code flow).

`state` is random per attempt and bound to this browser by an HttpOnly cookie: a callback whose state
does not match the cookie is refused (login CSRF). The state also says who is signing in: the
broadcaster (the scopes the features need; the grant is kept) or, with `?as=moderator`, one of a
channel's moderators (no scopes: Twitch only tells us who they are; the token is revoked at once)."""

from __future__ import annotations

import html
import logging
import re
import secrets
from typing import Any

from aiohttp import web

from twi_overlay import keys, repo
from twi_overlay.domain import settings
from twi_overlay.domain.events import admin_event
from twi_overlay.repo.chat_bots import BOT_SCOPES
from twi_overlay.store.tx import Tx
from twi_overlay.twitch import moderators
from twi_overlay.twitch.catchup import catch_up_until_done
from twi_overlay.twitch.client import SCOPES, Tokens, Twitch, TwitchError, authorize_url, store_tokens, wanted_scopes
from twi_overlay.twitch.subscriptions import reconcile
from twi_overlay.web.auth import admin_principal, bot_invite_owner, moderator_may, new_session, set_session_cookie
from twi_overlay.web.errors import ApiError

log = logging.getLogger(__name__)
STATE_COOKIE = "twi_oauth_state"
LOGIN = re.compile(r"^[a-z0-9_]{1,25}$")  # a Twitch login


NOT_CONFIGURED = (
    "Twitch is not configured on this server: register an application at dev.twitch.tv, set"
    ' TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET (the README\'s "Connect Twitch") and restart it'
)


def twitch_of(app: web.Application) -> Twitch:
    """The Twitch client, or a clear 503 when TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET are not set."""
    twitch = app.get(keys.TWITCH)
    if twitch is None:
        hint = "; meanwhile the development login works without Twitch" if app[keys.SETTINGS].development else ""
        raise ApiError(503, "twitch_not_configured", NOT_CONFIGURED + hint)
    return twitch


NOT_CONFIGURED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Twitch is not configured</title></head>
<body style="font: 16px system-ui, sans-serif; max-width: 40em; margin: 4em auto">
<h1>Twitch is not configured on this server yet</h1>
<p>To sign in with Twitch, the server needs a Twitch application:</p>
<ol>
<li>At <a href="https://dev.twitch.tv/console/apps">dev.twitch.tv/console/apps</a>, register one with the
OAuth redirect URL <code>{redirect}</code>.</li>
<li>Set <code>TWITCH_CLIENT_ID</code> and <code>TWITCH_CLIENT_SECRET</code> (in the environment, or in the
file given to <code>--env-file</code>) and restart the server.</li>
</ol>
{dev}
</body></html>
"""


async def login(request: web.Request) -> web.StreamResponse:
    conf = request.app[keys.SETTINGS]
    if request.app.get(keys.TWITCH) is None and "text/html" in request.headers.get("Accept", ""):
        # A person in a browser (who followed "Sign in with Twitch"): a page that says what to do.
        dev = (
            '<p>Meanwhile, in development: <a href="/_debug/login">the development login</a> (a demo channel).</p>'
            if conf.development
            else ""
        )
        page = NOT_CONFIGURED_PAGE.format(redirect=html.escape(conf.oauth_redirect_uri), dev=dev)
        return web.Response(status=503, text=page, content_type="text/html")
    twitch_of(request.app)  # anyone else: the JSON error
    role = request.query.get("as", "broadcaster")
    channel = request.query.get("channel", "")
    if role not in ("broadcaster", "moderator", "bot"):
        raise ApiError(400, "invalid_request", 'as: "broadcaster" (the default), "moderator" or "bot"')
    if channel and (role != "moderator" or not LOGIN.match(channel)):
        raise ApiError(400, "invalid_request", "channel: a Twitch login (with as=moderator)")
    state = secrets.token_urlsafe(24)
    scopes: tuple[str, ...] = ()  # a moderator's: only who they are
    if role == "moderator":
        state += f"~moderator~{channel}"
    elif role == "bot":
        invite = request.query.get("invite", "")
        if bot_invite_owner(conf.sse_token_signing_key, invite) is None:
            raise ApiError(403, "invalid_invite", "this chat bot link is not valid or has expired: make a new one")
        state, scopes = state + f"~bot~{invite}", BOT_SCOPES
    else:
        scopes = await _scopes_for(request)
    response = web.HTTPFound(authorize_url(conf, state, scopes, force_verify=role == "bot"))
    response.set_cookie(
        STATE_COOKIE,
        state,
        max_age=600,
        httponly=True,
        samesite="Lax",
        path="/oauth/",
        secure=request.app[keys.SETTINGS].production,
    )
    raise response


async def _scopes_for(request: web.Request) -> tuple[str, ...]:
    """What the enabled features of the broadcaster signing in again need (read from their session);
    on a first sign-in, what the defaults need."""
    try:
        who = await admin_principal(request)
    except ApiError:
        return SCOPES
    stored = await request.app[keys.DB].read(repo.settings.get, who.broadcaster_id)
    return wanted_scopes(stored.doc if stored is not None else None)


def _sign_in(tx: Tx, user: dict[str, str], tokens: Tokens) -> tuple[str, str]:
    repo.broadcasters.upsert(tx, user["id"], user["login"], user.get("display_name") or user["login"])
    store_tokens(tx, user["id"], tokens)
    settings.load(tx, user["id"])
    return new_session(tx, user["id"], user.get("display_name") or user["login"])


NOT_ALLOWED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Not allowed here</title></head>
<body style="font: 16px system-ui, sans-serif; max-width: 40em; margin: 4em auto">
<h1>This overlay server is not open to your Twitch account</h1>
<p>Twitch signed you in, but this server only lets the channels its operator listed use it
(<code>ALLOWED_BROADCASTERS</code>). Nothing about your account was stored.</p>
<p>If this is your server, add your Twitch login to <code>ALLOWED_BROADCASTERS</code> and restart it.</p>
</body></html>
"""


async def callback(request: web.Request) -> web.StreamResponse:
    expected = request.cookies.get(STATE_COOKIE, "")
    state = request.query.get("state", "")
    if not expected or not secrets.compare_digest(expected.encode(), state.encode()):
        raise ApiError(403, "invalid_state", "sign-in state does not match this browser; start again at /oauth/login")
    if "error" in request.query:
        raise ApiError(403, "access_denied", "Twitch did not grant access: " + request.query.get("error", "")[:100])
    code = request.query.get("code")
    if not code:
        raise ApiError(400, "missing_code", "no authorization code in the callback")
    twitch = twitch_of(request.app)
    try:
        tokens = await twitch.exchange_code(code)
        user = await twitch.get_user(tokens.access_token)
    except TwitchError as exc:
        log.warning("twitch sign-in failed", extra={"status": exc.status})
        raise ApiError(502, "twitch_error", "Twitch refused the sign-in; try again") from None
    if "~moderator~" in state:  # not a broadcaster: ALLOWED_BROADCASTERS and the scopes are not theirs
        return await _moderator_signed_in(request, twitch, tokens, user, state.split("~moderator~", 1)[1])
    if "~bot~" in state:
        return await _bot_signed_in(request, tokens, user, state.split("~bot~", 1)[1])
    config = request.app[keys.SETTINGS]
    if not config.allows(config.allowed_broadcasters, str(user.get("id", "")), str(user.get("login", ""))):
        # Nothing is stored and no session is made: this host is not open to this Twitch account.
        log.warning("a sign-in by a broadcaster not in ALLOWED_BROADCASTERS was refused")
        return web.Response(status=403, text=NOT_ALLOWED_PAGE, content_type="text/html")
    missing = [s for s in SCOPES if s not in tokens.scopes]
    if missing:
        raise ApiError(403, "missing_scopes", "Twitch did not grant " + ", ".join(missing))
    cookie, _csrf = await request.app[keys.DB].write(_sign_in, user, tokens)
    log.info("broadcaster signed in with Twitch", extra={"broadcaster_id": user["id"]})
    request.app[keys.TASKS].spawn(_after_sign_in(request.app, twitch), "reconcile-after-sign-in")
    response = web.HTTPFound("/admin/")
    set_session_cookie(response, cookie, secure=request.app[keys.SETTINGS].production)
    response.del_cookie(STATE_COOKIE, path="/oauth/")
    raise response


NOT_A_MODERATOR_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Not a moderator here</title></head>
<body style="font: 16px system-ui, sans-serif; max-width: 40em; margin: 4em auto">
<h1>You are not a moderator of {what} on this server</h1>
<p>Twitch says you are {name}. Moderators sign in here once the channel's broadcaster uses this server,
has you as a moderator on Twitch, and has moderator access turned on. A new moderator shows up here
within a minute of being added on Twitch.</p>
<p><a href="/admin/">Back</a></p>
</body></html>
"""

CHOOSE_CHANNEL_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Choose a channel</title></head>
<body style="font: 16px system-ui, sans-serif; max-width: 40em; margin: 4em auto">
<h1>Which channel do you want to moderate?</h1>
<ul>{links}</ul>
</body></html>
"""


def _moderated(tx: Tx, user_id: str) -> list[tuple[str, str, str]]:
    """(broadcaster id, login, display name) of the channels here this user may moderate now."""
    return [c for c in repo.moderators.channels_of(tx, user_id) if moderator_may(tx, c[0], user_id)]


async def _moderator_signed_in(
    request: web.Request, twitch: Twitch, tokens: Tokens, user: dict[str, Any], channel: str
) -> web.StreamResponse:
    """A moderator's callback: their token only said who they are, so it is revoked and nothing of it is
    kept; the session is for the channel they moderate here (asked for, or the only one)."""
    request.app[keys.TASKS].spawn(revoke_quietly(twitch, tokens.access_token), "revoke-moderator-token")
    user_id, name = str(user.get("id", "")), str(user.get("display_name") or user.get("login") or "")
    db = request.app[keys.DB]
    channels = await db.read(_moderated, user_id) if user_id else []
    if channel:
        channels = [c for c in channels if c[1] == channel]
    if not channels:
        page = NOT_A_MODERATOR_PAGE.format(
            what=html.escape(channel) if channel else "any channel", name=html.escape(name)
        )
        return web.Response(status=403, text=page, content_type="text/html")
    if len(channels) > 1:
        links = "".join(
            f'<li><a href="/oauth/login?as=moderator&amp;channel={html.escape(login)}">{html.escape(display)}</a></li>'
            for _id, login, display in channels
        )
        return web.Response(text=CHOOSE_CHANNEL_PAGE.format(links=links), content_type="text/html")
    cookie, _csrf = await db.write(new_session, channels[0][0], name, user_id)
    log.info("moderator signed in with Twitch", extra={"broadcaster_id": channels[0][0]})
    response = web.HTTPFound("/admin/")
    set_session_cookie(response, cookie, secure=request.app[keys.SETTINGS].production)
    response.del_cookie(STATE_COOKIE, path="/oauth/")
    raise response


BOT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font: 16px system-ui, sans-serif; max-width: 40em; margin: 4em auto">
<h1>{title}</h1>
<p>{text}</p>
</body></html>
"""


def _bot_page(status: int, title: str, text: str) -> web.Response:
    page = BOT_PAGE.format(title=html.escape(title), text=html.escape(text))
    return web.Response(status=status, text=page, content_type="text/html")


def _store_bot(tx: Tx, broadcaster_id: str, user: tuple[str, str, str], tokens: Tokens) -> None:
    repo.chat_bots.store(
        tx, broadcaster_id, user, tokens.access_token, tokens.refresh_token, tokens.expires_at, tokens.scopes
    )
    tx.emit(admin_event(broadcaster_id, "chat.bot_changed", {"bot": user[1]}))


async def _bot_signed_in(request: web.Request, tokens: Tokens, user: dict[str, Any], invite: str) -> web.StreamResponse:
    """A chat bot's callback: the channel the invite names gets this account as its chat account."""
    conf = request.app[keys.SETTINGS]
    broadcaster_id = bot_invite_owner(conf.sse_token_signing_key, invite)
    if broadcaster_id is None or not await request.app[keys.DB].read(repo.broadcasters.exists, broadcaster_id):
        return _bot_page(403, "This link has expired", "Make a new chat bot link on the admin page and open it again.")
    user_id, login = str(user.get("id", "")), str(user.get("login", ""))
    if user_id == broadcaster_id:
        return _bot_page(
            400,
            "That is the channel's own account",
            "Chat already uses the channel's own account. To use a bot, open the link where Twitch is signed in"
            " as the bot (a private window, or another browser) and sign in there.",
        )
    missing = [s for s in BOT_SCOPES if s not in tokens.scopes]
    if missing:
        return _bot_page(403, "Twitch did not grant what a chat bot needs", "Missing: " + ", ".join(missing))
    name = str(user.get("display_name") or login)
    await request.app[keys.DB].write(_store_bot, broadcaster_id, (user_id, login, name), tokens)
    log.info("a chat bot signed in", extra={"broadcaster_id": broadcaster_id})
    response = _bot_page(
        200,
        f"{name} is now the chat account",
        "It reads and answers the channel's chat from now on. You can close this window.",
    )
    response.del_cookie(STATE_COOKIE, path="/oauth/")
    return response


async def revoke_quietly(twitch: Twitch, access_token: str) -> None:
    """A token we keep nothing of, revoked on Twitch; a failure is logged (it expires on its own)."""
    try:
        await twitch.revoke(access_token)
    except Exception as exc:  # it expires on its own within hours; nothing of it is stored
        log.warning("revoking a token failed", extra={"error": type(exc).__name__})


async def _after_sign_in(app: web.Application, twitch: Twitch) -> None:
    """Create the EventSub subscriptions, read the moderator list and queue the redemptions we missed
    (in the background)."""
    try:
        await reconcile(app[keys.DB], twitch)
    except Exception:
        log.exception("reconciling subscriptions after sign-in failed (the hourly pass will retry)")
    await moderators.sync_all(app[keys.DB], twitch)
    await catch_up_until_done(app[keys.DB], twitch)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/oauth/login", login)
    app.router.add_get("/oauth/callback", callback)
