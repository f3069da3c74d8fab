"""The JSON API: commands, scoping, the error statuses of refused commands, rewards, tokens."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import add_broadcaster, admin_headers
from tests.fake_twitch import CLIENT_ID, FakeTwitch
from tests.helpers import BROADCASTER, SIGNING_KEY, post_in_two_pieces
from tests.twitch.helpers import sign_in
from tests.web.helpers import command, error
from twi_overlay import keys
from twi_overlay.web.auth import mint_token

OTHER = "4242"


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


async def test_sse_token_exchange_and_overlay_key_rotation(client: Any) -> None:
    await error(await client.post("/api/overlay-key"), 401)
    r = await client.post("/api/overlay-key", headers=admin_headers())
    assert r.status == 200
    first = await r.json()
    assert first["url"].endswith("/overlay/#key=" + first["key"]) and len(first["key"]) >= 40
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


async def test_sse_tokens_from_the_cli_format_work_for_api(client: Any) -> None:
    token, _ = mint_token(SIGNING_KEY, "admin", BROADCASTER, 60)
    r = await client.get("/api/rewards", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 200 and (await r.json()) == {"data": []}


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


async def test_a_body_split_over_two_tcp_segments_is_read_whole(client: Any) -> None:
    import orjson

    body = orjson.dumps({"type": "counter.increment", "payload": {"name": "split", "by": 2}})
    headers = {**admin_headers(), "Content-Type": "application/json"}
    status_line = await post_in_two_pieces(client, "/api/commands", headers, body, 10)
    assert status_line.startswith(b"HTTP/1.1 200"), status_line
    state = await (await client.get("/api/state", headers=admin_headers())).json()
    assert state["counters"] == {"split": 2}


@pytest.mark.parametrize("limit", ["²", "0", "501", "-1", "1e3", "", "ten"])
async def test_a_bad_limit_is_a_400(client: Any, limit: str) -> None:
    await error(await client.get(f"/api/commands?limit={limit}", headers=admin_headers()), 400, "invalid_limit")


async def test_the_overlay_url_can_be_shown_again_and_only_rotating_changes_it(client: Any) -> None:
    h = admin_headers()
    shown = await (await client.get("/api/overlay-key", headers=h)).json()
    assert (shown["url"], shown["reason"]) == (None, "no_key")
    made = await (await client.post("/api/overlay-key", json={}, headers=h)).json()
    for _ in range(2):  # a reload, and another: the same URL each time
        again = await (await client.get("/api/overlay-key", headers=h)).json()
        assert again == {"key": made["key"], "url": made["url"]}
    token = await client.post("/api/sse-token", json={"key": made["key"]})
    assert token.status == 200  # the shown key is the working key
    rotated = await (await client.post("/api/overlay-key", json={}, headers=h)).json()
    assert rotated["key"] != made["key"]
    assert (await (await client.get("/api/overlay-key", headers=h)).json())["key"] == rotated["key"]
    # The key is stored only as its hash: the database alone cannot give it back.
    stored = await client.app[keys.DB].read(
        lambda tx: tx.one("SELECT key_hash, nonce FROM overlay_keys WHERE broadcaster_id = ?", [BROADCASTER])
    )
    assert rotated["key"] not in (stored["key_hash"], stored["nonce"])


async def test_an_overlay_key_that_cannot_be_derived_says_why(client: Any) -> None:
    from twi_overlay.web.auth import sha256_hex

    def old_style(tx: Any) -> None:  # a key made before keys could be shown again: no nonce
        tx.execute(
            "INSERT INTO overlay_keys (broadcaster_id, key_hash, created_at) VALUES (?, ?, 0)",
            [BROADCASTER, sha256_hex("an-old-key")],
        )

    await client.app[keys.DB].write(old_style)
    shown = await (await client.get("/api/overlay-key", headers=admin_headers())).json()
    assert (shown["url"], shown["reason"]) == (None, "not_derivable") and "rotate once" in shown["message"]

    def other_signing_key(tx: Any) -> None:  # as if SSE_TOKEN_SIGNING_KEY had changed since
        tx.execute("UPDATE overlay_keys SET nonce = 'n' WHERE broadcaster_id = ?", [BROADCASTER])

    await client.app[keys.DB].write(other_signing_key)
    shown = await (await client.get("/api/overlay-key", headers=admin_headers())).json()
    assert (shown["url"], shown["reason"]) == (None, "signing_key_changed")
