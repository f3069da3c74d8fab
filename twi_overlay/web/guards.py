"""Who may call each route: the table docs/routes.md is generated from (scripts/route-table.py).

Every route the app registers has an entry here, and every entry a route (tests/web/test_guards.py),
so a new route cannot ship without saying who may call it. HEAD answers as GET does."""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web

ANYONE = "anyone"
SIGNED = "anyone, with Twitch's signature (HMAC-SHA256 of the body, WEBHOOK_SECRET; 10 min freshness)"
ADMIN = (
    "the broadcaster: session cookie + CSRF header on writes, or an admin Bearer token (not a stream token);"
    " a moderator's session gets 403 `broadcaster_only`"
)
MODERATED = (
    "the broadcaster, or a moderator of the channel signed in with Twitch (while Twitch lists them and"
    " `moderators.enabled` is on)"
)
OPERATOR = "operator: an admin in OPERATORS (everyone in development)"
STREAM = (
    "a stream token for this audience (`/admin/sse` also takes an admin token);"
    " refused once its key is rotated or its session ends"
)
OVERLAY_KEY = "anyone with an overlay key (for an overlay token), or an admin (for either audience)"
DEBUG = "admin in production (their own records; an operator's: everyone's), anyone in development; 5 r/s"
DEV_ONLY = "development only (404 in production), rate-limited; `/_debug/` is loopback-only behind nginx"

GUARDS: dict[str, str] = {
    "POST /eventsub/webhook": SIGNED,
    "GET /overlay/sse": STREAM,
    "GET /admin/sse": STREAM,
    "GET /healthz": ANYONE,
    "GET /q/{login}": "anyone, while the channel's public page is on (404 otherwise); 2 r/s per address",
    "GET /q/{login}/sse": "anyone, while the channel's public page is on (404 otherwise); 2 r/s per address,"
    " SSE_MAX_STREAMS_PER_CLIENT",
    "GET /metrics": "loopback (METRICS_ALLOW) by the client's address in production; anyone in development",
    "POST /api/logout": "anyone; with a session, CSRF-checked (ends it, or every session with everywhere)",
    "GET /api/oauth/status": ADMIN,
    "GET /api/subscriptions": ADMIN + "; stale ids of other channels only for an operator",
    "POST /api/subscriptions/reconcile": OPERATOR,
    "GET /api/moderators": ADMIN,
    "POST /api/chat-bot/invite": ADMIN,
    "DELETE /api/chat-bot": ADMIN,
    "GET /api/session": "anyone (says whether, as whom and in which role the caller is signed in)",
    "GET /api/state": MODERATED,
    "POST /api/commands": MODERATED + "; a moderator runs queue and counter commands and opens or closes the queue",
    "GET /api/commands": MODERATED,
    "POST /api/maintenance": OPERATOR,
    "POST /api/sse-token": OVERLAY_KEY + "; a moderator's admin stream ends when they stop being one",
    "POST /api/overlay-key": ADMIN,
    "GET /api/overlay-key": ADMIN,
    "POST /api/overlay-sound": ADMIN,
    "GET /overlay/sounds/{sha256}": ANYONE + " (a sound by the hash of its bytes: nothing secret)",
    "GET /api/rewards": ADMIN,
    "POST /api/rewards": ADMIN,
    "GET /api/history": MODERATED,
    "GET /api/twitch-updates/failed": ADMIN,
    "GET /oauth/login": ANYONE + " (`?as=moderator[&channel=<login>]`: a moderator's sign-in, no scopes)",
    "GET /oauth/callback": "anyone with the state cookie of /oauth/login; only ALLOWED_BROADCASTERS get a session,"
    " and moderators only for a channel here that has them and moderator access on",
    "GET /": ANYONE,
    "GET /overlay/": ANYONE + " (the page; its key stays in the URL fragment)",
    "GET /admin/": ANYONE + " (the page; it asks /api/session)",
    "GET /_debug/login": DEV_ONLY + " (`?as=moderator`: the demo channel's moderator)",
    "POST /_debug/mock/redemption": DEV_ONLY,
    "GET /_debug/tap": DEBUG,
    "GET /static/": ANYONE + " (the pages' files)",
}


def routes(app: web.Application) -> Iterator[str]:
    """Every route the app answers as "METHOD /path" (HEAD folded into GET; /static/ for its files)."""
    seen: set[str] = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or (str(info.get("prefix", "")).rstrip("/") + "/")
        name = f"{route.method} {path}"
        if name not in seen:
            seen.add(name)
            yield name


def markdown_table(app: web.Application) -> str:
    lines = ["| route | who may call it |", "|---|---|"]
    lines += [f"| `{name}` | {GUARDS.get(name, '**missing**')} |" for name in routes(app)]
    return "\n".join(lines) + "\n"
