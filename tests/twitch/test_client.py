"""The Twitch client: a refresh once on 401 with the rotated token kept, a refused refresh means
re-consent, the hourly validation."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.fake_twitch import FakeTwitch
from tests.twitch.helpers import USER, held_refreshes, sign_in
from twi_overlay import keys


async def test_expired_token_is_refreshed_once_and_the_rotated_token_kept(
    app_client: Any, twitch: tuple[FakeTwitch, str]
) -> None:
    fake, _ = twitch
    session = await sign_in(app_client)
    old_refresh = set(fake.refresh)
    fake.expire_access_tokens()
    r = await app_client.post(
        "/api/rewards", json={"title": "After refresh", "cost": 10}, headers={"X-CSRF-Token": session["csrf_token"]}
    )
    assert r.status == 201, await r.text()
    assert ("token", "refresh_token") in fake.calls
    stored = await app_client.app[keys.DB].read(
        lambda tx: tx.value("SELECT refresh_token FROM broadcasters WHERE id = '5550001'")
    )
    assert stored in fake.refresh and stored not in old_refresh


async def test_concurrent_refreshes_share_one_request(app_client: Any, twitch: tuple[FakeTwitch, str]) -> None:
    """Two callers meet an expired token at once (a Helix job and an admin request): one refresh goes
    to Twitch and both get its token. Two refreshes with the same token would have the second refused
    once Twitch rotated it, and a healthy grant flagged for re-consent."""
    fake, _ = twitch
    await sign_in(app_client)
    tw = app_client.app[keys.TWITCH]
    calls = await held_refreshes(fake, lambda: tw.refresh(USER), 2)
    fake.refresh_gate.set()
    tokens = await asyncio.gather(*calls)
    assert tokens[0] == tokens[1] and tokens[0] in fake.access
    assert fake.calls.count(("token", "refresh_token")) == 1
    status = await (await app_client.get("/api/oauth/status")).json()
    assert status["needs_reconsent"] is False


async def test_a_refusal_of_a_replaced_grant_does_not_flag_the_new_one(
    app_client: Any, twitch: tuple[FakeTwitch, str]
) -> None:
    """A refresh is under way when the broadcaster signs in again; Twitch then refuses the old refresh
    token. The refusal is about a grant nobody uses: the new one stays usable and is what the caller gets."""
    fake, _ = twitch
    await sign_in(app_client)
    tw = app_client.app[keys.TWITCH]
    [refreshing] = await held_refreshes(fake, lambda: tw.refresh(USER), 1)
    old_refresh = set(fake.refresh)
    await sign_in(app_client)  # a new grant is stored meanwhile
    for token in old_refresh:  # and Twitch no longer takes the old refresh token
        fake.refresh.pop(token, None)
    fake.refresh_gate.set()
    token = await refreshing
    grant = await app_client.app[keys.DB].read(
        lambda tx: tx.one("SELECT access_token, needs_reconsent FROM broadcasters WHERE id = ?", (USER,))
    )
    assert token == grant["access_token"] and fake.access[token].valid
    assert not grant["needs_reconsent"]


async def test_refused_refresh_means_reconsent(app_client: Any, twitch: tuple[FakeTwitch, str]) -> None:
    fake, _ = twitch
    session = await sign_in(app_client)
    fake.revoke_everything()
    r = await app_client.post(
        "/api/rewards", json={"title": "Nope", "cost": 10}, headers={"X-CSRF-Token": session["csrf_token"]}
    )
    assert r.status == 409 and (await r.json())["error"]["code"] == "needs_reconsent"
    status = await (await app_client.get("/api/oauth/status")).json()
    assert status["needs_reconsent"] is True and status["reconsent_url"].endswith("/oauth/login")
    await sign_in(app_client)  # signing in again clears the flag
    assert (await (await app_client.get("/api/oauth/status")).json())["needs_reconsent"] is False


async def test_validate_refreshes_an_expired_token_and_flags_reconsent(
    app_client: Any, twitch: tuple[FakeTwitch, str]
) -> None:
    from twi_overlay.ops import metrics

    fake, _ = twitch
    await sign_in(app_client)
    tw = app_client.app[keys.TWITCH]
    await tw.validate_all()
    assert (await (await app_client.get("/api/oauth/status")).json())["valid"] is True
    failures = metrics.OAUTH_VALIDATE_FAILURES._value.get()
    fake.expire_access_tokens()
    await tw.validate_all()
    assert metrics.OAUTH_VALIDATE_FAILURES._value.get() == failures + 1
    status = await (await app_client.get("/api/oauth/status")).json()
    assert status["valid"] is True and status["needs_reconsent"] is False  # refreshed
    fake.revoke_everything()
    await tw.validate_all()
    status = await (await app_client.get("/api/oauth/status")).json()
    assert status["valid"] is False and status["needs_reconsent"] is True
