"""Twitch OAuth and Helix client. Base URLs come from settings so tests talk to a local fake Twitch.

Never on the webhook's ACK path. Tokens are never logged (the log filter masks them as well)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from twi_overlay import repo
from twi_overlay.config import Settings
from twi_overlay.ops import metrics
from twi_overlay.store.database import Database
from twi_overlay.store.tx import Tx

log = logging.getLogger(__name__)
MODERATION_READ = "moderation:read"  # the channel's moderator list and its add/remove events
SCOPES = ("channel:read:redemptions", "channel:manage:redemptions", MODERATION_READ)
# Chat commands (settings chat.enabled): read the channel's chat as the broadcaster's account over the
# app-token path (user:read:chat, user:bot, channel:bot), answer in it (user:write:chat), and follow its
# bans (channel:moderate: a banned viewer leaves the queue).
CHAT_SCOPES = ("user:read:chat", "user:write:chat", "user:bot", "channel:bot", "channel:moderate")
BAN_SCOPE = "channel:moderate"


def wanted_scopes(settings_doc: dict[str, Any] | None) -> tuple[str, ...]:
    """The scopes the broadcaster's enabled features need: a sign-in asks for these and no more."""
    chat = (settings_doc or {}).get("chat") or {}
    return SCOPES + CHAT_SCOPES if chat.get("enabled") else SCOPES


TIMEOUT = aiohttp.ClientTimeout(total=10)


class TwitchError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class ReconsentNeeded(TwitchError):
    """The refresh token was refused: the broadcaster must sign in again."""


class BadAnswer(TwitchError):
    """A success status whose body is not JSON (a proxy's page, a truncated answer): Twitch is
    treated as unavailable, never as having said yes."""


async def read_json(r: aiohttp.ClientResponse) -> dict[str, Any]:
    """The answer's JSON object; {} for an empty or non-object body. A body that is not JSON is a
    BadAnswer on a 1xx-3xx status, and {} on an error status (its status already says what went wrong)."""
    raw = await r.read()
    if not raw:
        return {}
    try:
        found = orjson.loads(raw)
    except orjson.JSONDecodeError:
        if r.status < 400:
            raise BadAnswer(r.status, "Twitch answered with something that is not JSON") from None
        return {}
    return json_object(found)


def json_object(value: Any) -> dict[str, Any]:
    """A JSON object from Twitch, or an empty one for anything else (null, a list, a bare value)."""
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: float
    scopes: tuple[str, ...]


def authorize_url(settings: Settings, state: str, scopes: tuple[str, ...] = SCOPES, force_verify: bool = False) -> str:
    """Twitch's consent page; a moderator's sign-in passes no scopes (it only identifies them), a chat
    bot's forces the page (so the account can be switched to the bot's)."""
    params = {
        "response_type": "code",
        "client_id": settings.twitch_client_id,
        "redirect_uri": settings.oauth_redirect_uri,
        "scope": " ".join(scopes),
        "state": state,
    }
    if force_verify:
        params["force_verify"] = "true"
    query = urlencode(params)
    return f"{settings.twitch_auth_base}/authorize?{query}"


def _tokens(data: dict[str, Any]) -> Tokens:
    scope = data.get("scope") or []
    return Tokens(
        data["access_token"],
        data.get("refresh_token", ""),
        time.time() + float(data.get("expires_in") or 0),
        tuple(scope),
    )


def store_tokens(tx: Tx, broadcaster_id: str, tokens: Tokens) -> None:
    repo.tokens.store(tx, broadcaster_id, tokens.access_token, tokens.refresh_token, tokens.expires_at, tokens.scopes)


def store_bot_tokens(tx: Tx, broadcaster_id: str, tokens: Tokens) -> None:
    repo.chat_bots.set_tokens(tx, broadcaster_id, tokens.access_token, tokens.refresh_token, tokens.expires_at)


def refused_refresh(tx: Tx, broadcaster_id: str, refresh_token: str) -> str | None:
    """Twitch refused `refresh_token`. If it is still the stored one, flag needs_reconsent and return
    None; if a sign-in or another refresh stored a newer grant meanwhile, return that grant's access
    token instead (the refusal was about a token nobody uses any more)."""
    grant = repo.tokens.get(tx, broadcaster_id)
    if grant is None or grant.refresh_token == refresh_token or not grant.access_token:
        repo.broadcasters.set_needs_reconsent(tx, broadcaster_id, True)
        return None
    return grant.access_token


def refused_bot_refresh(tx: Tx, broadcaster_id: str, refresh_token: str) -> str | None:
    """The same for a chat bot's grant: flag it, unless the bot signed in again meanwhile."""
    bot = repo.chat_bots.get(tx, broadcaster_id)
    if bot is None or bot.refresh_token == refresh_token or not bot.access_token:
        repo.chat_bots.mark_needs_reconsent(tx, broadcaster_id)
        return None
    return bot.access_token


class Twitch:
    def __init__(self, settings: Settings, db: Database):
        self.settings = settings
        self.db = db
        self.session = aiohttp.ClientSession(timeout=TIMEOUT)
        self._app_token: tuple[str, float] | None = None  # (token, expires_at)
        self.validity: dict[str, tuple[bool, float]] = {}  # broadcaster -> (token valid, checked at)
        self.conduit_id: str | None = None  # EVENTSUB_TRANSPORT=conduit: ours, once found or created
        self.conduit_lock = asyncio.Lock()
        self.reconcile_soon = asyncio.Event()  # set when subscriptions must be made again (a new conduit)
        # One refresh at a time per grant: Twitch may rotate the refresh token, so a second refresh
        # sent with the same one would be refused and flag a healthy grant for re-consent.
        self._refreshing: dict[tuple[str, str], asyncio.Future[str]] = {}

    async def close(self) -> None:
        await self.session.close()

    @property
    def configured(self) -> bool:
        return bool(self.settings.twitch_client_id and self.settings.twitch_client_secret)

    # -- OAuth ------------------------------------------------------------------------------------
    async def _token_request(self, form: dict[str, str]) -> dict[str, Any]:
        form = {
            "client_id": self.settings.twitch_client_id,
            "client_secret": self.settings.twitch_client_secret,
            **form,
        }
        async with self.session.post(f"{self.settings.twitch_auth_base}/token", data=form) as r:
            metrics.HELIX_REQUESTS.labels("oauth2/token", str(r.status)).inc()
            body = await read_json(r)
            if r.status != 200:
                raise TwitchError(r.status, str(body.get("message", "token request failed")))
            return body

    async def exchange_code(self, code: str) -> Tokens:
        return _tokens(
            await self._token_request(
                {"code": code, "grant_type": "authorization_code", "redirect_uri": self.settings.oauth_redirect_uri}
            )
        )

    async def revoke(self, access_token: str) -> None:
        """POST /oauth2/revoke: a token we only needed once (a moderator's, to learn who they are)."""
        form = {"client_id": self.settings.twitch_client_id, "token": access_token}
        async with self.session.post(f"{self.settings.twitch_auth_base}/revoke", data=form) as r:
            metrics.HELIX_REQUESTS.labels("oauth2/revoke", str(r.status)).inc()
            if r.status != 200:
                raise TwitchError(r.status, "revoke failed")

    def _once(self, key: tuple[str, str], make: Callable[[], Awaitable[str]]) -> Awaitable[str]:
        """Join the refresh of this grant already under way, or start it. The refresh runs to its end
        even when every caller is cancelled, so its rotated token is always stored."""
        running = self._refreshing.get(key)
        if running is None:
            running = self._refreshing[key] = asyncio.ensure_future(make())

            def done(task: asyncio.Future[str]) -> None:
                self._refreshing.pop(key, None)
                if not task.cancelled():
                    task.exception()  # retrieved: a refusal nobody waited for is not "never retrieved"

            running.add_done_callback(done)
        return asyncio.shield(running)

    async def refresh(self, broadcaster_id: str) -> str:
        """A fresh user access token for the broadcaster (one refresh at a time); a refused refresh
        flags needs_reconsent and raises ReconsentNeeded."""
        return await self._once(("broadcaster", broadcaster_id), lambda: self._refresh(broadcaster_id))

    async def _refresh(self, broadcaster_id: str) -> str:
        grant = await self.db.read(repo.tokens.get, broadcaster_id)
        if grant is None or not grant.refresh_token:
            await self.db.write(repo.broadcasters.set_needs_reconsent, broadcaster_id, True)
            raise ReconsentNeeded(401, "no refresh token")
        return await self._exchange(broadcaster_id, grant.refresh_token, refused_refresh, store_tokens)

    async def _exchange(
        self,
        broadcaster_id: str,
        refresh_token: str,
        refused: Callable[[Tx, str, str], str | None],
        store: Callable[[Tx, str, Tokens], None],
    ) -> str:
        """Trade `refresh_token` for new tokens and `store` them (the rotated refresh token is kept).
        On a refusal, `refused` flags the grant (ReconsentNeeded), or gives the access token of a
        grant stored meanwhile."""
        try:
            tokens = _tokens(await self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token}))
        except TwitchError as exc:
            if exc.status in (400, 401):
                newer = await self.db.write(refused, broadcaster_id, refresh_token)
                if newer is not None:
                    return newer
                raise ReconsentNeeded(exc.status, exc.message) from None
            raise
        await self.db.write(store, broadcaster_id, tokens)
        return tokens.access_token

    async def validate(self, access_token: str) -> dict[str, Any] | None:
        async with self.session.get(
            f"{self.settings.twitch_auth_base}/validate", headers={"Authorization": f"OAuth {access_token}"}
        ) as r:
            metrics.HELIX_REQUESTS.labels("oauth2/validate", str(r.status)).inc()
            if r.status == 401:
                metrics.OAUTH_VALIDATE_FAILURES.inc()
                return None
            if r.status != 200:
                raise TwitchError(r.status, "validate failed")
            return await read_json(r)

    async def app_token(self, renew: bool = False) -> str:
        """App access token (client credentials) for EventSub management; cached until near expiry."""
        if renew or self._app_token is None or self._app_token[1] - time.time() < 60:
            data = await self._token_request({"grant_type": "client_credentials"})
            self._app_token = (data["access_token"], time.time() + float(data.get("expires_in") or 3600))
        return self._app_token[0]

    async def app_helix(self, method: str, path: str, **kw: Any) -> tuple[int, dict[str, Any]]:
        status, body = await self.helix(method, path, await self.app_token(), **kw)
        if status == 401:
            status, body = await self.helix(method, path, await self.app_token(renew=True), **kw)
        return status, body

    async def validate_all(self) -> None:
        """/oauth2/validate for every connected broadcaster (start-up and hourly): 401 → refresh;
        a refused refresh flags needs_reconsent (the admin page then shows the re-consent link)."""
        for broadcaster_id, access_token in await self.db.read(repo.tokens.usable):
            try:
                ok = await self.validate(access_token) is not None
                if not ok:
                    await self.refresh(broadcaster_id)
                    ok = True
            except ReconsentNeeded:
                ok = False
            except (TwitchError, aiohttp.ClientError, TimeoutError):
                log.warning("token validation could not run", extra={"broadcaster_id": broadcaster_id})
                continue
            self.validity[broadcaster_id] = (ok, time.time())
        for broadcaster_id, access_token in await self.db.read(repo.chat_bots.usable):  # the chat bots' grants
            try:
                if await self.validate(access_token) is None:
                    await self.refresh_bot(broadcaster_id)
            except ReconsentNeeded:
                log.warning("a chat bot must sign in again", extra={"broadcaster_id": broadcaster_id})
            except (TwitchError, aiohttp.ClientError, TimeoutError):
                log.warning("chat bot token validation could not run", extra={"broadcaster_id": broadcaster_id})

    async def refresh_bot(self, broadcaster_id: str) -> str:
        """The channel's chat bot's grant, refreshed; a refused refresh flags it (sign the bot in again)."""
        return await self._once(("bot", broadcaster_id), lambda: self._refresh_bot(broadcaster_id))

    async def _refresh_bot(self, broadcaster_id: str) -> str:
        bot = await self.db.read(repo.chat_bots.get, broadcaster_id)
        if bot is None or not bot.refresh_token:
            raise ReconsentNeeded(401, "no chat bot grant")
        return await self._exchange(broadcaster_id, bot.refresh_token, refused_bot_refresh, store_bot_tokens)

    async def bot_helix(self, broadcaster_id: str, method: str, path: str, **kw: Any) -> tuple[int, dict[str, Any]]:
        """A Helix call with the channel's chat bot's user token: one refresh-and-retry on 401."""
        bot = await self.db.read(repo.chat_bots.get, broadcaster_id)
        if bot is None or not bot.access_token or bot.needs_reconsent:
            raise ReconsentNeeded(401, "no usable chat bot grant")
        status, body = await self.helix(method, path, bot.access_token, **kw)
        if status == 401:
            status, body = await self.helix(method, path, await self.refresh_bot(broadcaster_id), **kw)
        return status, body

    # -- Helix --------------------------------------------------------------------------------------
    async def helix(
        self, method: str, path: str, token: str, *, params: Any = None, json: Any = None
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}", "Client-Id": self.settings.twitch_client_id}
        async with self.session.request(
            method, f"{self.settings.twitch_api_base}/{path}", headers=headers, params=params, json=json
        ) as r:
            metrics.HELIX_REQUESTS.labels(path, str(r.status)).inc()
            body = await read_json(r)
            if r.status == 429 and "Ratelimit-Reset" in r.headers:
                body["_ratelimit_reset"] = r.headers["Ratelimit-Reset"]
            return r.status, body

    async def user_helix(self, broadcaster_id: str, method: str, path: str, **kw: Any) -> tuple[int, dict[str, Any]]:
        """A Helix call with the broadcaster's user token: one refresh-and-retry on 401."""
        grant = await self.db.read(repo.tokens.get, broadcaster_id)
        if grant is None or not grant.access_token:
            raise ReconsentNeeded(401, "not connected to Twitch")
        status, body = await self.helix(method, path, grant.access_token, **kw)
        if status == 401:
            status, body = await self.helix(method, path, await self.refresh(broadcaster_id), **kw)
        return status, body

    async def get_user(self, access_token: str) -> dict[str, Any]:
        status, body = await self.helix("GET", "users", access_token)
        if status != 200 or not body.get("data"):
            raise TwitchError(status, "could not read the user")
        return json_object(body["data"][0])

    async def create_reward(self, broadcaster_id: str, title: str, cost: int) -> dict[str, Any]:
        status, body = await self.user_helix(
            broadcaster_id,
            "POST",
            "channel_points/custom_rewards",
            params={"broadcaster_id": broadcaster_id},
            json={"title": title, "cost": cost},
        )
        if status != 200 or not body.get("data"):
            raise TwitchError(status, str(body.get("message") or "Twitch refused to create the reward"))
        return json_object(body["data"][0])
