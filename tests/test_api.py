"""HTTP API: auth, scoping, CSRF, every error path in the one error shape (SPEC §7)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import add_broadcaster, admin_headers
from tests.helpers import BROADCASTER, SIGNING_KEY
from twi_overlay import keys
from twi_overlay.app import create_app
from twi_overlay.auth import mint_token
from twi_overlay.config import load_settings

OTHER = "4242"


async def command(client: Any, type_: str, payload: Any, headers: dict[str, str] | None = None, **kw: Any) -> Any:
    return await client.post(
        "/api/commands", json={"type": type_, "payload": payload}, headers=headers or admin_headers(), **kw
    )


async def error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    if code:
        assert body["error"]["code"] == code
    return body["error"]


async def test_command_round_trip(client: Any) -> None:
    r = await command(client, "queue.enqueue", {"user_name": "Ann", "note": "<b>hi</b>"})
    assert r.status == 200
    body = await r.json()
    assert body["result"] == "ok" and body["events"][0]["type"] == "queue.enqueued"
    state = await (await client.get("/api/state", headers=admin_headers())).json()
    assert state["queue"][0]["user_input"] == "<b>hi</b>"
    log = await (await client.get("/api/commands?limit=5", headers=admin_headers())).json()
    assert log["data"][0]["type"] == "queue.enqueue" and log["data"][0]["result"] == "ok"


async def test_rule_rejections_are_200(client: Any) -> None:
    await command(client, "settings.update", {"version": 1, "settings": {"queue": {"open": False}}})
    r = await command(client, "queue.enqueue", {"user_name": "Ann"})
    assert r.status == 200 and (await r.json())["result"] == "rejected"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"type": "queue.enqueue", "payload": []}, 400, "invalid_payload"),
        ({"payload": {}}, 400, "invalid_command"),
        ({"type": "nope.nope", "payload": {}}, 400, "unknown_command"),
        ({"type": "redemption.add", "payload": {}}, 400, "unknown_command"),
        ({"type": "queue.complete", "payload": {"entry_id": 12345}}, 404, "unknown_entry"),
        ({"type": "settings.update", "payload": {"version": 7, "settings": {}}}, 409, "version_conflict"),
        (
            {"type": "settings.update", "payload": {"version": 1, "settings": {"queue": {"max_length": 0}}}},
            422,
            "invalid_value",
        ),
    ],
)
async def test_command_errors(client: Any, body: Any, status: int, code: str) -> None:
    await error(await client.post("/api/commands", json=body, headers=admin_headers()), status, code)


async def test_malformed_and_wrong_media_type(client: Any) -> None:
    await error(
        await client.post(
            "/api/commands", data=b"{not json", headers={**admin_headers(), "Content-Type": "application/json"}
        ),
        400,
        "malformed_json",
    )
    await error(
        await client.post(
            "/api/commands",
            data=b"type=x",
            headers={**admin_headers(), "Content-Type": "application/x-www-form-urlencoded"},
        ),
        415,
    )
    await error(
        await client.post(
            "/api/commands",
            data=b"{" + b" " * 70000 + b"}",
            headers={**admin_headers(), "Content-Type": "application/json"},
        ),
        413,
    )
    await error(await client.get("/api/commands?limit=0", headers=admin_headers()), 400, "invalid_limit")
    await error(
        await command(client, "queue.pick", {}, headers={**admin_headers(), "Idempotency-Key": "x" * 201}),
        400,
        "invalid_idempotency_key",
    )


async def test_idempotency_key_over_http(client: Any) -> None:
    h = {**admin_headers(), "Idempotency-Key": "abc-123"}
    first = await (await command(client, "counter.increment", {"name": "hugs"}, headers=h)).json()
    second = await (await command(client, "counter.increment", {"name": "hugs"}, headers=h)).json()
    assert second == {**first, "replayed": True}
    state = await (await client.get("/api/state", headers=admin_headers())).json()
    assert state["counters"] == {"hugs": 1}


async def test_authentication_failures(client: Any) -> None:
    await error(await client.get("/api/state"), 401, "unauthorized")
    await error(await client.get("/api/state", headers={"Authorization": "Bearer nonsense"}), 401, "invalid_token")
    await error(await client.get("/api/state", headers=admin_headers(aud="overlay")), 401, "invalid_token")
    await error(await client.get("/api/state", headers=admin_headers(ttl=-5)), 401, "token_expired")
    await error(
        await client.get("/api/state", headers=admin_headers(key="another-signing-key-0123456789abcdef")),
        401,
        "invalid_token",
    )
    await error(await client.get("/api/state", headers=admin_headers(bid="999")), 401, "unknown_broadcaster")
    token = admin_headers()["Authorization"]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    await error(await client.get("/api/state", headers={"Authorization": tampered}), 401, "invalid_token")
    # Writes too.
    await error(await command(client, "queue.pick", {}, headers=admin_headers(aud="overlay")), 401)


async def test_another_broadcasters_token_sees_and_changes_only_its_own(client: Any) -> None:
    await client.app[keys.DB].write(add_broadcaster, OTHER, "other_streamer")
    r = await command(client, "queue.enqueue", {"user_name": "Ann"})
    entry_id = (await r.json())["data"]["entry"]["id"]
    theirs = admin_headers(OTHER)
    state = await (await client.get("/api/state", headers=theirs)).json()
    assert state["broadcaster"]["id"] == OTHER and state["queue"] == []
    await error(await command(client, "queue.complete", {"entry_id": entry_id}, headers=theirs), 404)
    await error(await command(client, "queue.move", {"entry_id": entry_id, "position": 1}, headers=theirs), 404)
    mine = await (await client.get("/api/state", headers=admin_headers())).json()
    assert [e["id"] for e in mine["queue"]] == [entry_id]
    log = await (await client.get("/api/commands", headers=theirs)).json()
    assert all(row["type"] != "queue.enqueue" for row in log["data"])


async def test_session_cookie_needs_csrf_header_on_writes(client: Any) -> None:
    anonymous = await client.get("/api/session")
    assert anonymous.status == 200 and (await anonymous.json()) == {"signed_in": False, "development": True}
    r = await client.get("/_debug/login", allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == "/admin/"
    cookie = r.cookies["twi_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    state = await client.get("/api/state")  # the cookie jar sends it
    assert state.status == 200
    bid = (await state.json())["broadcaster"]["id"]
    await error(await client.post("/api/commands", json={"type": "queue.pick", "payload": {}}), 403, "csrf_failed")
    await error(
        await client.post(
            "/api/commands", json={"type": "queue.pick", "payload": {}}, headers={"X-CSRF-Token": "guess"}
        ),
        403,
        "csrf_failed",
    )
    # The admin page learns its CSRF token from /api/session.
    session = await (await client.get("/api/session")).json()
    assert session["signed_in"] is True and session["broadcaster_id"] == bid
    r = await client.post(
        "/api/commands", json={"type": "queue.pick", "payload": {}}, headers={"X-CSRF-Token": session["csrf_token"]}
    )
    assert r.status == 200


async def test_sse_token_exchange_and_overlay_key_rotation(client: Any) -> None:
    await error(await client.post("/api/overlay-key"), 401)
    r = await client.post("/api/overlay-key", headers=admin_headers())
    assert r.status == 200
    first = await r.json()
    assert first["url"].endswith("/overlay/?key=" + first["key"]) and len(first["key"]) >= 40
    r = await client.post("/api/sse-token", json={"key": first["key"]})
    assert r.status == 200
    import jwt

    claims = jwt.decode((await r.json())["token"], SIGNING_KEY, algorithms=["HS256"], audience="overlay")
    assert claims["sub"] == BROADCASTER and claims["exp"] - claims["iat"] == 300
    second = await (await client.post("/api/overlay-key", headers=admin_headers())).json()
    await error(await client.post("/api/sse-token", json={"key": first["key"]}), 401, "invalid_overlay_key")
    assert (await client.post("/api/sse-token", json={"key": second["key"]})).status == 200
    # The overlay key is stored hashed only.
    stored = await client.app[keys.DB].read(lambda tx: tx.value("SELECT key_hash FROM overlay_keys"))
    assert second["key"] not in stored
    await error(await client.post("/api/sse-token", json={"aud": "admin"}), 401)
    r = await client.post("/api/sse-token", json={"aud": "admin"}, headers=admin_headers())
    assert r.status == 200
    await error(await client.post("/api/sse-token", json={"aud": "root"}, headers=admin_headers()), 400)


async def test_mock_redemption_goes_through_the_pipeline(client: Any) -> None:
    await command(client, "settings.update", {"version": 1, "settings": {"rewards": {"mock-queue-reward": "queue"}}})
    r = await client.post(
        "/_debug/mock/redemption", json={"user_name": "Mocky", "user_input": "hello"}, headers=admin_headers()
    )
    assert r.status == 202
    await client.app[keys.PROCESSOR].drain()
    state = await (await client.get("/api/state", headers=admin_headers())).json()
    assert [(e["user_name"], e["user_input"], e["source"]) for e in state["queue"]] == [("Mocky", "hello", "twitch")]
    await error(await client.post("/_debug/mock/redemption", json={}), 401)


async def test_production_hides_dev_login_and_mocks(aiohttp_client: Any, settings_env: dict[str, str]) -> None:
    env = {
        **settings_env,
        "APP_ENV": "production",
        "APP_BASE_URL": "https://o.example.com",
        "OAUTH_REDIRECT_URI": "https://o.example.com/oauth/callback",
        "TWITCH_CLIENT_ID": "cid",
        "TWITCH_CLIENT_SECRET": "csecret",
        "WEBHOOK_SECRET": "w" * 40,
    }
    client = await aiohttp_client(create_app(load_settings(env)))
    await client.app[keys.DB].write(add_broadcaster)
    await error(await client.get("/_debug/login"), 404)
    await error(await client.post("/_debug/mock/redemption", json={}, headers=admin_headers()), 404)
    await error(await client.get("/_debug/tap"), 401)  # admin-only in production


async def test_sse_tokens_from_the_cli_format_work_for_api(client: Any) -> None:
    token, _ = mint_token(SIGNING_KEY, "admin", BROADCASTER, 60)
    r = await client.get("/api/rewards", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 200 and (await r.json()) == {"data": []}
