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
    assert status["scopes"] == ["channel:read:redemptions", "channel:manage:redemptions"]


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
