"""Who is asking: bearer tokens, session cookies with the CSRF guard."""

from __future__ import annotations

from typing import Any

from tests.conftest import admin_headers
from tests.web.helpers import command, error


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
