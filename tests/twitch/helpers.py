"""Signing in against the fake Twitch, and a queue bound to one of its rewards."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from tests.conftest import update_settings
from tests.fake_twitch import CLIENT_ID
from tests.helpers import delivery, redemption_body, rfc3339_nano, until
from twi_overlay import keys

SCOPES = "channel:read:redemptions channel:manage:redemptions moderation:read"
CHAT_SCOPES = SCOPES + " user:read:chat user:write:chat user:bot channel:bot channel:moderate"


async def sign_in(client: Any, scopes: str = SCOPES) -> dict[str, Any]:
    """Through the fake's consent page, asked for every scope the enabled features need (`scopes`)."""
    r = await client.get("/oauth/login", allow_redirects=False)
    assert r.status == 302
    authorize = r.headers["Location"]
    query = URL(authorize).query
    assert query["scope"] == scopes
    assert query["client_id"] == CLIENT_ID and len(query["state"]) >= 24 and query["response_type"] == "code"
    async with client.session.get(authorize, allow_redirects=False) as consent:  # the user clicks "Authorize"
        assert consent.status == 302
        callback = consent.headers["Location"]
    r = await client.session.get(callback, allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == "/admin/", await r.text()
    return await (await client.get("/api/session")).json()


USER = "5550001"


async def held_refreshes(fake: Any, refresh: Callable[[], Awaitable[str]], n: int) -> list[asyncio.Future[str]]:
    """Expire every access token and start `n` calls of `refresh` while the fake holds refresh
    requests (`fake.refresh_gate`); returns once the first request reached the fake. Set the gate to
    let them answer."""
    fake.expire_access_tokens()
    fake.refresh_gate = asyncio.Event()
    calls = [asyncio.ensure_future(refresh()) for _ in range(n)]
    await until(lambda: ("token", "refresh_token") in fake.calls)
    return calls


async def deliver_moderator_event(client: Any, sub_type: str, user: dict[str, str]) -> None:
    """channel.moderator.add / .remove for the signed-in broadcaster, through the webhook and processed."""
    body = {
        "subscription": {"id": "s", "type": sub_type, "version": "1", "condition": {"broadcaster_user_id": USER}},
        "event": {**user, "broadcaster_user_id": USER, "broadcaster_user_login": "real_streamer"},
    }
    secret = client.app[keys.SETTINGS].webhook_secret
    headers, raw = delivery(body, secret=secret, timestamp=rfc3339_nano())
    assert (await client.post("/eventsub/webhook", data=raw, headers=headers)).status == 204
    await client.app[keys.PROCESSOR].drain()


@dataclass
class Browser:
    """Another person's browser (its own cookies) on the test client's server: a moderator's."""

    client: Any
    session: aiohttp.ClientSession
    csrf: str = ""

    def url(self, path: str) -> str:
        return str(self.client.make_url(path))

    async def get(self, path: str, **kw: Any) -> aiohttp.ClientResponse:
        return await self.session.get(self.url(path), **kw)

    async def post(self, path: str, body: Any = None) -> aiohttp.ClientResponse:
        return await self.session.post(self.url(path), json=body, headers={"X-CSRF-Token": self.csrf})

    async def command(self, type_: str, payload: Any) -> aiohttp.ClientResponse:
        return await self.post("/api/commands", {"type": type_, "payload": payload})


async def moderator_sign_in(browser: Browser, fake: Any, login: str, channel: str = "") -> aiohttp.ClientResponse:
    """`login` signs in as a moderator through the fake's consent page, asked for no scope at all; the
    callback's answer (a redirect to the admin page, or a page saying why not). Signed in, the
    browser keeps the session's CSRF token."""
    fake.sign_in_as(login)
    try:
        query = "?as=moderator" + (f"&channel={channel}" if channel else "")
        r = await browser.get("/oauth/login" + query, allow_redirects=False)
        assert r.status == 302, await r.text()
        authorize = r.headers["Location"]
        assert URL(authorize).query["scope"] == ""  # only who they are
        async with browser.session.get(authorize, allow_redirects=False) as consent:
            callback = consent.headers["Location"]
        answer = await browser.session.get(callback, allow_redirects=False)
    finally:
        fake.signing_in = None
    if answer.status == 302:
        browser.csrf = (await (await browser.get("/api/session")).json())["csrf_token"]
    return answer


async def after_sign_in(client: Any) -> None:
    """Let the background work a sign-in starts (subscriptions, reward sync, catch-up) finish."""
    await client.app[keys.TASKS].join()


async def setup_queue(client: Any, fake: Any, reward_id: str | None = None, **reward: str) -> dict[str, str]:
    """Sign in, then bind a reward to the queue: `reward_id`, or one created now in the fake with
    `**reward` (after the sign-in's reward sync, so whether it is ours is not known yet)."""
    session = await sign_in(client)
    await after_sign_in(client)
    created = reward_id is None
    if reward_id is None:
        reward_id = fake.add_reward(**reward)
    h = {"X-CSRF-Token": session["csrf_token"]}
    await update_settings(client, h, rewards={reward_id: "queue"}, queue={"per_user_limit": 50})
    if created:
        h["X-Created-Reward"] = reward_id  # popped by the caller before the headers are used
    return h


async def app_owned_queue_reward(client: Any) -> tuple[dict[str, str], str]:
    """Sign in and create a reward with our client id bound to the queue: (CSRF header, reward id)."""
    session = await sign_in(client)
    h = {"X-CSRF-Token": session["csrf_token"]}
    r = await client.post("/api/rewards", json={"title": "Join", "cost": 10, "bind": "queue"}, headers=h)
    assert r.status == 201, await r.text()
    return h, (await r.json())["id"]


async def redeem(client: Any, fake: Any, reward_id: str, n: int = 1) -> list[str]:
    ids = []
    for i in range(n):
        rid = fake.add_redemption(reward_id, user_name=f"viewer{i}")  # Twitch's record and its delivery agree
        headers, raw = delivery(
            redemption_body(
                broadcaster_id=USER,
                reward_id=reward_id,
                redemption_id=rid,
                user_id=fake.redemptions[rid]["user_id"],
                user_name=f"viewer{i}",
            )
        )
        assert (await client.post("/eventsub/webhook", data=raw, headers=headers)).status == 204
        ids.append(rid)
    await client.app[keys.PROCESSOR].drain()
    return ids


async def entries(client: Any) -> list[dict[str, Any]]:
    return (await (await client.get("/api/state")).json())["queue"]


async def history(client: Any) -> dict[str, str]:
    return {e["redemption_id"]: e["helix_status"] for e in (await (await client.get("/api/history")).json())["data"]}


def run_cli(settings: Any, command: list[str], **extra: str) -> Any:
    """A command in another process against the same database and fake Twitch as the app's `settings`."""
    import os
    import subprocess

    from tests.helpers import ROOT

    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite://{settings.database_path}",
        "TWITCH_CLIENT_ID": settings.twitch_client_id,
        "TWITCH_CLIENT_SECRET": settings.twitch_client_secret,
        "TWITCH_API_BASE": settings.twitch_api_base,
        "TWITCH_AUTH_BASE": settings.twitch_auth_base,
        "SSE_TOKEN_SIGNING_KEY": settings.sse_token_signing_key,
        **extra,
    }
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
