"""Pages and development routes: the mock redemption, the dev login and mocks hidden in production, the tap."""

from __future__ import annotations

from typing import Any

from tests.conftest import add_broadcaster, admin_headers
from tests.sse_client import connect
from tests.web.helpers import command, error
from twi_overlay import keys
from twi_overlay.app import create_app
from twi_overlay.config import load_settings


async def test_mock_redemption_goes_through_the_pipeline(client: Any) -> None:
    await command(client, "settings.update", {"version": 1, "settings": {"rewards": {"mock-queue-reward": "queue"}}})
    r = await client.post(
        "/_debug/mock/redemption", json={"user_name": "Mocky", "user_input": "hello"}, headers=admin_headers()
    )
    assert r.status == 202
    await client.app[keys.PROCESSOR].drain()
    state = await (await client.get("/api/state", headers=admin_headers())).json()
    assert [(e["user_name"], e["user_input"], e["source"]) for e in state["queue"]] == [("Mocky", "hello", "mock")]
    await error(await client.post("/_debug/mock/redemption", json={}), 401)


async def test_a_fresh_development_login_queues_the_first_mock_and_tells_twitch_nothing(client: Any) -> None:
    """The first evening: sign in with the development login, press "Mock redemption" once."""
    r = await client.get("/_debug/login", allow_redirects=False)
    assert r.status == 302
    session = await (await client.get("/api/session")).json()
    h = {"X-CSRF-Token": session["csrf_token"]}
    assert (await client.post("/_debug/mock/redemption", json={"user_name": "First"}, headers=h)).status == 202
    await client.app[keys.PROCESSOR].drain()
    state = await (await client.get("/api/state")).json()
    [entry] = state["queue"]
    assert (entry["user_name"], entry["source"], entry["helix_status"]) == ("First", "mock", None)
    log = await (await client.get("/api/commands")).json()
    assert [(c["type"], c["source"]) for c in log["data"]] == [("redemption.add", "mock")]
    assert (
        await client.post(
            "/api/commands", json={"type": "queue.complete", "payload": {"entry_id": entry["id"]}}, headers=h
        )
    ).status == 200
    history = await (await client.get("/api/history")).json()
    assert history["data"][0]["helix_status"] is None  # not "Twitch: pending" for good


async def test_production_hides_dev_login_and_mocks(aiohttp_client: Any, settings_env: dict[str, str]) -> None:
    env = {
        **settings_env,
        "APP_ENV": "production",
        "ALLOWED_BROADCASTERS": "cool_user",
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


async def bump(client: Any, n: int, name: str = "hits") -> None:
    for _ in range(n):
        r = await client.post(
            "/api/commands", json={"type": "counter.increment", "payload": {"name": name}}, headers=admin_headers()
        )
        assert r.status == 200


async def test_debug_tap_streams_pipeline_stages(client: Any) -> None:
    from tests.helpers import delivery, redemption_body

    tap = await connect(client.session, str(client.make_url("/_debug/tap")))
    assert tap.response.status == 200
    assert (await tap.next()).retry == 2000
    assert (await tap.next()).comment == "heartbeat"
    headers, raw = delivery(redemption_body())
    assert (await client.post("/eventsub/webhook", data=raw, headers=headers)).status == 204
    await bump(client, 1)
    stages = []
    while not {"ingress", "process", "command"} <= set(stages):
        f = await tap.next_event()
        assert f.event == "tap"
        stages.append(f.data["stage"])
        assert set(f.data) >= {"stage", "type", "broadcaster_id", "message_id", "ok", "ms"}
    tap.close()


async def test_the_old_overlay_url_is_sent_on_to_the_fragment_form(client: Any) -> None:
    """/overlay/?key=… still works, but the key moves to the fragment, which no browser sends to a server."""
    r = await client.get("/overlay/?key=abc-DEF_123", allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == "/overlay/?update_url=1#key=abc-DEF_123"
    page = await client.get("/overlay/")
    assert page.status == 200 and "text/html" in page.headers["Content-Type"]
