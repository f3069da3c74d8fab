"""Twitch OAuth and Helix client. Base URLs come from settings so tests talk to a local fake Twitch.

Never on the webhook's ACK path. Tokens are never logged (the log filter masks them as well)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from twi_overlay import metrics, repo
from twi_overlay.config import Settings
from twi_overlay.db import Database, Tx
from twi_overlay.sqlfiles import sql

log = logging.getLogger(__name__)
SCOPES = ("channel:read:redemptions", "channel:manage:redemptions")
TIMEOUT = aiohttp.ClientTimeout(total=10)


class TwitchError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class ReconsentNeeded(TwitchError):
    """The refresh token was refused: the broadcaster must sign in again."""


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: float
    scopes: tuple[str, ...]


def authorize_url(settings: Settings, state: str) -> str:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.twitch_client_id,
            "redirect_uri": settings.oauth_redirect_uri,
            "scope": " ".join(SCOPES),
            "state": state,
        }
    )
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
    tx.execute(
        sql.tokens.store,
        {
            "id": broadcaster_id,
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": tokens.expires_at,
            "scopes": " ".join(tokens.scopes),
            "now": time.time(),
        },
    )


class Twitch:
    def __init__(self, settings: Settings, db: Database):
        self.settings = settings
        self.db = db
        self.session = aiohttp.ClientSession(timeout=TIMEOUT)
        self._app_token: tuple[str, float] | None = None  # (token, expires_at)
        self.validity: dict[str, tuple[bool, float]] = {}  # broadcaster -> (token valid, checked at)

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
            body = await r.json(content_type=None)
            if r.status != 200:
                raise TwitchError(r.status, str((body or {}).get("message", "token request failed")))
            return body  # type: ignore[no-any-return]

    async def exchange_code(self, code: str) -> Tokens:
        return _tokens(
            await self._token_request(
                {"code": code, "grant_type": "authorization_code", "redirect_uri": self.settings.oauth_redirect_uri}
            )
        )

    async def refresh(self, broadcaster_id: str) -> str:
        row = await self.db.read(lambda tx: tx.one(sql.tokens.get, {"id": broadcaster_id}))
        if row is None or not row["refresh_token"]:
            await self.db.write(repo.set_needs_reconsent, broadcaster_id, True)
            raise ReconsentNeeded(401, "no refresh token")
        try:
            tokens = _tokens(
                await self._token_request({"grant_type": "refresh_token", "refresh_token": row["refresh_token"]})
            )
        except TwitchError as exc:
            if exc.status in (400, 401):
                await self.db.write(repo.set_needs_reconsent, broadcaster_id, True)
                raise ReconsentNeeded(exc.status, exc.message) from None
            raise
        await self.db.write(store_tokens, broadcaster_id, tokens)  # the rotated refresh token is kept
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
            return await r.json()  # type: ignore[no-any-return]

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
        rows = await self.db.read(
            lambda tx: [
                dict(r)
                for r in tx.all(
                    "SELECT id, access_token FROM broadcasters WHERE access_token IS NOT NULL AND needs_reconsent = 0"
                )
            ]
        )
        for row in rows:
            try:
                ok = await self.validate(row["access_token"]) is not None
                if not ok:
                    await self.refresh(row["id"])
                    ok = True
            except ReconsentNeeded:
                ok = False
            except (TwitchError, aiohttp.ClientError, TimeoutError):
                log.warning("token validation could not run", extra={"broadcaster_id": row["id"]})
                continue
            self.validity[row["id"]] = (ok, time.time())

    # -- Helix --------------------------------------------------------------------------------------
    async def helix(
        self, method: str, path: str, token: str, *, params: Any = None, json: Any = None
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}", "Client-Id": self.settings.twitch_client_id}
        async with self.session.request(
            method, f"{self.settings.twitch_api_base}/{path}", headers=headers, params=params, json=json
        ) as r:
            metrics.HELIX_REQUESTS.labels(path, str(r.status)).inc()
            body = await r.json(content_type=None) if r.content_length != 0 else {}
            body = body if isinstance(body, dict) else {}
            if r.status == 429 and "Ratelimit-Reset" in r.headers:
                body["_ratelimit_reset"] = r.headers["Ratelimit-Reset"]
            return r.status, body

    async def user_helix(self, broadcaster_id: str, method: str, path: str, **kw: Any) -> tuple[int, dict[str, Any]]:
        """A Helix call with the broadcaster's user token: one refresh-and-retry on 401."""
        row = await self.db.read(lambda tx: tx.one(sql.tokens.get, {"id": broadcaster_id}))
        if row is None or not row["access_token"]:
            raise ReconsentNeeded(401, "not connected to Twitch")
        status, body = await self.helix(method, path, row["access_token"], **kw)
        if status == 401:
            status, body = await self.helix(method, path, await self.refresh(broadcaster_id), **kw)
        return status, body

    async def get_user(self, access_token: str) -> dict[str, Any]:
        status, body = await self.helix("GET", "users", access_token)
        if status != 200 or not body.get("data"):
            raise TwitchError(status, "could not read the user")
        return body["data"][0]  # type: ignore[no-any-return]

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
        return body["data"][0]  # type: ignore[no-any-return]
