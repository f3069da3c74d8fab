"""Sign in with Twitch against the local fake Twitch."""

from __future__ import annotations

from typing import Any

from tests.fake_twitch import FakeTwitch
from tests.twitch.helpers import sign_in


async def test_sign_in_with_twitch(app_client: Any, twitch: tuple[FakeTwitch, str]) -> None:
    session = await sign_in(app_client)
    assert session["signed_in"] and session["broadcaster_id"] == "5550001"
    assert session["broadcaster"]["display_name"] == "Real_Streamer"
    status = await (await app_client.get("/api/oauth/status")).json()
    assert status["connected"] and status["needs_reconsent"] is False
    assert status["scopes"] == ["channel:read:redemptions", "channel:manage:redemptions", "moderation:read"]


async def test_forged_or_missing_state_is_refused(app_client: Any) -> None:
    r = await app_client.get("/oauth/login", allow_redirects=False)
    assert r.status == 302
    for query in ("?code=abc&state=forged", "?code=abc", "?error=access_denied&state=forged"):
        r = await app_client.get("/oauth/callback" + query, allow_redirects=False)
        assert r.status == 403 and (await r.json())["error"]["code"] == "invalid_state"
    app_client.session.cookie_jar.clear()
    r = await app_client.get("/oauth/callback?code=abc&state=anything", allow_redirects=False)
    assert r.status == 403
    assert (await (await app_client.get("/api/session")).json())["signed_in"] is False


async def test_login_without_twitch_credentials_says_so(client: Any) -> None:
    r = await client.get("/oauth/login", allow_redirects=False)
    assert r.status == 503 and (await r.json())["error"]["code"] == "twitch_not_configured"
    assert "TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET" in (await r.json())["error"]["message"]
    # A browser following "Sign in with Twitch" gets a page saying what is missing and how to set it.
    page = await client.get("/oauth/login", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    text = await page.text()
    assert page.status == 503 and page.content_type == "text/html"
    assert "TWITCH_CLIENT_ID" in text and "/oauth/callback" in text and 'href="/_debug/login"' in text


async def test_creating_a_reward_before_connecting_twitch_says_to_sign_in(app_client: Any) -> None:
    """The development login has a channel but no Twitch grant: not "sign in again", but "sign in"."""
    await app_client.get("/_debug/login", allow_redirects=False)
    session = await (await app_client.get("/api/session")).json()
    r = await app_client.post(
        "/api/rewards", json={"title": "Join", "cost": 5}, headers={"X-CSRF-Token": session["csrf_token"]}
    )
    error = (await r.json())["error"]
    assert r.status == 409 and error["code"] == "needs_reconsent"
    assert error["message"] == "this channel is not connected to Twitch: sign in with Twitch first"
