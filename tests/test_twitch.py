"""Sign in with Twitch and app-owned rewards, against the local fake Twitch."""

from __future__ import annotations

from typing import Any

from yarl import URL

from tests.fake_twitch import CLIENT_ID, FakeTwitch
from twi_overlay import keys


async def sign_in(client: Any) -> dict[str, Any]:
    r = await client.get("/oauth/login", allow_redirects=False)
    assert r.status == 302
    authorize = r.headers["Location"]
    query = URL(authorize).query
    assert query["scope"] == "channel:read:redemptions channel:manage:redemptions"
    assert query["client_id"] == CLIENT_ID and len(query["state"]) >= 24 and query["response_type"] == "code"
    async with client.session.get(authorize, allow_redirects=False) as consent:  # the user clicks "Authorize"
        assert consent.status == 302
        callback = consent.headers["Location"]
    r = await client.session.get(callback, allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == "/admin/", await r.text()
    return await (await client.get("/api/session")).json()


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


async def test_create_an_app_owned_reward_bound_to_the_queue(app_client: Any, twitch: tuple[FakeTwitch, str]) -> None:
    fake, _ = twitch
    session = await sign_in(app_client)
    csrf = {"X-CSRF-Token": session["csrf_token"]}
    r = await app_client.post(
        "/api/rewards", json={"title": "Join the queue", "cost": 500, "bind": "queue"}, headers=csrf
    )
    assert r.status == 201, await r.text()
    reward = await r.json()
    assert reward["managed"] is True and reward["binding"] == "queue" and reward["cost"] == 500
    created = fake.rewards[reward["id"]]
    assert created["_client_id"] == CLIENT_ID  # created with our client id: its redemptions are ours to update
    listed = (await (await app_client.get("/api/rewards")).json())["data"]
    assert [r["id"] for r in listed] == [reward["id"]]
    state = await (await app_client.get("/api/state")).json()
    assert state["settings"]["rewards"] == {reward["id"]: "queue"}
    r = await app_client.post("/api/rewards", json={"title": "Join the queue", "cost": 500}, headers=csrf)
    assert r.status == 502 and "DUPLICATE" in (await r.json())["error"]["message"]
    r = await app_client.post("/api/rewards", json={"title": "x" * 46}, headers=csrf)
    assert r.status == 422


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


async def test_login_without_twitch_credentials_says_so(client: Any) -> None:
    r = await client.get("/oauth/login", allow_redirects=False)
    assert r.status == 503 and (await r.json())["error"]["code"] == "twitch_not_configured"


async def test_validate_refreshes_an_expired_token_and_flags_reconsent(
    app_client: Any, twitch: tuple[FakeTwitch, str]
) -> None:
    from twi_overlay import keys, metrics

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
