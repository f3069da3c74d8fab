"""Who is asking: short-lived JWTs (SSE and API bearer), admin sessions with a CSRF guard, overlay keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
from aiohttp import web

from twi_overlay import keys, repo
from twi_overlay.domain import settings
from twi_overlay.domain.context import Actor
from twi_overlay.store.tx import Tx
from twi_overlay.web.errors import ApiError

AUDIENCES = ("overlay", "admin")
SESSION_COOKIE = "twi_session"
SESSION_TTL = 7 * 24 * 3600
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BROADCASTER = "broadcaster"
MODERATOR = "moderator"


def mint_token(
    signing_key: str,
    aud: str,
    sub: str,
    ttl: int = 300,
    now: float | None = None,
    claims: dict[str, str] | None = None,
) -> tuple[str, int]:
    """A token for `aud`. `claims` adds to it: `scope: "stream"` (opens a stream, never calls the API),
    `kid` (the overlay key it came from) or `sid` (the session it came from): a stream opened with it
    ends when that key is rotated or that session signs out."""
    if aud not in AUDIENCES:
        raise ValueError(f"aud must be one of {', '.join(AUDIENCES)}")
    iat = int(now if now is not None else time.time())
    exp = iat + int(ttl)
    payload: dict[str, Any] = {**(claims or {}), "aud": aud, "sub": sub, "iat": iat, "exp": exp}
    token = jwt.encode(payload, signing_key, algorithm="HS256")
    return token, exp


STREAM_SCOPE = "stream"


def key_id(key_hash: str) -> str:
    """What a stream token names of the overlay key it was minted from (a prefix of its hash)."""
    return key_hash[:16]


def decode_token(signing_key: str, token: str, aud: str) -> dict[str, Any]:
    """Checks signature, `aud`, `exp` (no leeway) and the presence of every claim; raises ApiError(401)."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            signing_key,
            algorithms=["HS256"],
            audience=aud,
            leeway=0,
            options={"require": ["aud", "sub", "exp", "iat"]},
        )
        return claims
    except jwt.ExpiredSignatureError:
        raise ApiError(401, "token_expired", "token has expired; fetch a new one") from None
    except jwt.InvalidAudienceError:
        raise ApiError(401, "invalid_token", f"token is not for {aud}") from None
    except jwt.PyJWTError:
        raise ApiError(401, "invalid_token", "token is invalid") from None


BOT_INVITE_AUDIENCE = "chat-bot"
BOT_INVITE_TTL = 15 * 60


def bot_invite(signing_key: str, broadcaster_id: str, now: float | None = None) -> tuple[str, int]:
    """A link's proof that the broadcaster asked for a chat bot: whoever opens it within 15 minutes and
    signs in with Twitch becomes the channel's bot (the link, not a session, carries the channel: the
    bot signs in from another browser, or a private window, where Twitch knows the bot's account)."""
    iat = int(now if now is not None else time.time())
    claims = {"aud": BOT_INVITE_AUDIENCE, "sub": broadcaster_id, "iat": iat, "exp": iat + BOT_INVITE_TTL}
    return jwt.encode(claims, signing_key, algorithm="HS256"), iat + BOT_INVITE_TTL


def bot_invite_owner(signing_key: str, invite: str) -> str | None:
    """The broadcaster a bot invite is for, or None when it is forged, for another purpose or expired."""
    try:
        claims = jwt.decode(
            invite, signing_key, algorithms=["HS256"], audience=BOT_INVITE_AUDIENCE, leeway=0,
            options={"require": ["aud", "sub", "exp", "iat"]},
        )  # fmt: skip
    except jwt.PyJWTError:
        return None
    return str(claims["sub"])


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


@dataclass(frozen=True)
class Principal:
    broadcaster_id: str  # the channel this caller administers
    via: str  # "bearer" | "session"
    csrf_token: str | None = None
    session_hash: str | None = None  # of the session cookie, when signed in with one
    role: str = BROADCASTER  # or MODERATOR: one of the channel's moderators, limited to the queue and counters
    user_id: str | None = None  # who is signed in (the moderator's own Twitch id), when known
    user_name: str | None = None

    @property
    def moderator(self) -> bool:
        return self.role == MODERATOR

    @property
    def actor(self) -> Actor | None:
        """Who the command log names for this caller's commands."""
        if self.user_id is None:
            return None
        return Actor(self.user_id, self.user_name or self.user_id, self.role)


async def _known(request: web.Request, broadcaster_id: str) -> bool:
    return await request.app[keys.DB].read(repo.broadcasters.exists, broadcaster_id)


def moderator_may(tx: Tx, broadcaster_id: str, user_id: str) -> bool:
    """Is this user still one of the channel's moderators, with moderator access on there?"""
    if not repo.moderators.is_moderator(tx, broadcaster_id, user_id):
        return False
    stored = repo.settings.get(tx, broadcaster_id)
    return stored is None or bool(settings.with_defaults(stored.doc)["moderators"]["enabled"])


def _session(tx: Tx, session_hash: str) -> tuple[repo.auth.Session | None, bool]:
    """The live session, and for a moderator's whether they still may (one read for both)."""
    session = repo.auth.get_session(tx, session_hash)
    if session is None or session.role != MODERATOR:
        return session, True
    return session, session.user_id is not None and moderator_may(tx, session.broadcaster_id, session.user_id)


async def admin_principal(request: web.Request, *, csrf: bool = True, moderators: bool = False) -> Principal:
    """The admin caller: a Bearer token with aud=admin, or the session cookie (+ CSRF header on writes).

    A moderator's session is refused (403 `broadcaster_only`) unless the route lets `moderators` in;
    it is checked against the moderator list and the channel's switch on every request."""
    conf = request.app[keys.SETTINGS]
    token = bearer(request)
    if token is not None:
        claims = decode_token(conf.sse_token_signing_key, token, "admin")
        if claims.get("scope") == STREAM_SCOPE:
            raise ApiError(401, "stream_token", "a stream token opens /admin/sse only; the API needs an admin token")
        sub = str(claims["sub"])
        if not await _known(request, sub):
            raise ApiError(401, "unknown_broadcaster", "token subject is not a known broadcaster")
        return Principal(sub, "bearer")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        session_hash = sha256_hex(cookie)
        session, may = await request.app[keys.DB].read(_session, session_hash)
        if session is not None:
            if csrf and request.method not in SAFE_METHODS:
                sent = request.headers.get(CSRF_HEADER, "")
                if not secrets.compare_digest(sent.encode(), session.csrf_token.encode()):
                    raise ApiError(403, "csrf_failed", f"missing or wrong {CSRF_HEADER} header")
            who = Principal(
                session.broadcaster_id,
                "session",
                session.csrf_token,
                session_hash,
                session.role,
                session.user_id,
                session.user_name,
            )
            if who.moderator:
                if not may:
                    raise ApiError(401, "unauthorized", "you are no longer a moderator here; sign in again")
                if not moderators:
                    raise ApiError(403, "broadcaster_only", "moderators run the queue and counters only")
            return who
    raise ApiError(401, "unauthorized", "sign in, or send Authorization: Bearer <admin token>")


async def is_operator(request: web.Request, who: Principal, login: str | None = None) -> bool:
    """May run what touches every tenant: in OPERATORS by Twitch user id or login (read when not given).
    Never a moderator: their session names the channel they moderate, not themselves."""
    if who.moderator:
        return False
    conf = request.app[keys.SETTINGS]
    if "*" in conf.operators or who.broadcaster_id in conf.operators:
        return True
    if login is None:
        broadcaster = await request.app[keys.DB].read(repo.broadcasters.get, who.broadcaster_id)
        login = broadcaster.login if broadcaster is not None else None
    return login is not None and conf.allows(conf.operators, who.broadcaster_id, login)


async def operator_principal(request: web.Request) -> Principal:
    """An admin who is an operator; 403 `operator_only` for any other admin."""
    who = await admin_principal(request)
    if not await is_operator(request, who):
        raise ApiError(403, "operator_only", "this touches every channel on the server: operators only (OPERATORS)")
    return who


def new_session(
    tx: Tx, broadcaster_id: str, user_name: str | None = None, moderator_id: str | None = None
) -> tuple[str, str]:
    """Creates a session: the broadcaster's own, or with `moderator_id` one of their moderators'
    (`user_name` is who signed in). Returns (cookie value, csrf token)."""
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    role, user_id = (MODERATOR, moderator_id) if moderator_id is not None else (BROADCASTER, broadcaster_id)
    expires_at = time.time() + SESSION_TTL
    repo.auth.insert_session(tx, sha256_hex(cookie), broadcaster_id, csrf, expires_at, role, user_id, user_name)
    return cookie, csrf


def delete_session(tx: Tx, cookie: str) -> None:
    repo.auth.delete_session(tx, sha256_hex(cookie))


def set_session_cookie(response: web.StreamResponse, cookie: str, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE, cookie, max_age=SESSION_TTL, httponly=True, samesite="Lax", secure=secure, path="/"
    )


def derive_overlay_key(signing_key: str, broadcaster_id: str, nonce: str) -> str:
    """An overlay key is HMAC(signing key, broadcaster, nonce): the database keeps only its hash and the
    nonce, so the admin page can show the URL again, and only a holder of the signing key can."""
    mac = hmac.new(signing_key.encode(), f"overlay-key\0{broadcaster_id}\0{nonce}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def rotate_overlay_key(tx: Tx, broadcaster_id: str, signing_key: str) -> str:
    nonce = secrets.token_urlsafe(16)
    key = derive_overlay_key(signing_key, broadcaster_id, nonce)
    repo.auth.set_overlay_key(tx, broadcaster_id, sha256_hex(key), nonce)
    return key


def current_overlay_key(tx: Tx, broadcaster_id: str, signing_key: str) -> tuple[str | None, str]:
    """(the key, "") or (None, why it cannot be shown: none yet, made before, the signing key changed)."""
    found = repo.auth.overlay_key_of(tx, broadcaster_id)
    if found is None:
        return None, "no_key"
    key_hash, nonce, _created_at = found
    if nonce is None:
        return None, "not_derivable"
    key = derive_overlay_key(signing_key, broadcaster_id, nonce)
    if not hmac.compare_digest(sha256_hex(key), key_hash):
        return None, "signing_key_changed"
    return key, ""


def overlay_key_owner(tx: Tx, key: str) -> str | None:
    return repo.auth.overlay_key_owner(tx, sha256_hex(key))
