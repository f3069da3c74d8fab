"""The home set-up as a real process: `twi-overlay home --env-file F` with the two values of a registered
Twitch application, which is APP_ENV=production with the conduit transport on http://localhost: no nginx,
no certificate, no open port. Signed in through the fake Twitch, killed with SIGKILL and started again:
the shards are re-assigned to new sessions without a single new subscription, a redemption made while
the process was dead is caught up, and the browser's session still holds."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from tests.fake_twitch import CLIENT_ID, CLIENT_SECRET, FakeTwitch
from tests.helpers import ServerProcess, free_port, sign_in_over_http, until

pytestmark = pytest.mark.slow


def home_env(base: str, port: int) -> dict[str, str]:
    """What the test adds to a home set-up: where the fake Twitch is, and a quick first retry."""
    return {
        "TWITCH_API_BASE": base + "/helix",
        "TWITCH_AUTH_BASE": base + "/oauth2",
        "TWITCH_EVENTSUB_WS_URL": "ws" + base.removeprefix("http") + "/ws",
        "EVENTSUB_WS_RETRY_SECS": "0.05",
        "LOG_LEVEL": "info",
        # Unset what tests.helpers.server_env gives every development server: `home` decides these.
        "APP_ENV": "",
        "WEBHOOK_SECRET": "",
        "SSE_TOKEN_SIGNING_KEY": "",
        "HOST": "",
    }


def env_file(tmp_path: Path) -> Path:
    """The two values a streamer writes down after registering the application."""
    path = tmp_path / "twi-overlay.env"
    path.write_text(
        f"# from dev.twitch.tv/console\nTWITCH_CLIENT_ID={CLIENT_ID}\nTWITCH_CLIENT_SECRET='{CLIENT_SECRET}'\n"
    )
    path.chmod(0o600)
    return path


async def test_home_production_survives_kill9_without_subscribing_again(
    tmp_path: Path, twitch: tuple[FakeTwitch, str]
) -> None:
    fake, base = twitch
    port = free_port()
    url = f"http://localhost:{port}"
    command = ("home", "--env-file", str(env_file(tmp_path)))
    server = ServerProcess(tmp_path / "app.db", port, command, **home_env(base, port))
    await asyncio.to_thread(server.start)
    # Chromium treats http://localhost as a secure origin, so the production cookies (Secure) work there.
    jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[URL(url)])
    try:
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            headers = await sign_in_over_http(http, url)
            async with http.post(
                f"{url}/api/rewards", json={"title": "Join", "cost": 10, "bind": "queue"}, headers=headers
            ) as r:
                assert r.status == 201, await r.text()
                reward_id = (await r.json())["id"]
            await fake.eventsub.wait_sessions(2)
            await until(lambda: len(fake.subscriptions) == 10)  # 7 types, 2 moderator ones, conduit.shard.disabled
            created = [c for c in fake.calls if c[0] in ("create_subscription", "create_conduit")]
            first_sessions = {s.id for s in fake.eventsub.live()}

            await asyncio.to_thread(server.kill9)
            await until(lambda: fake.eventsub.shard_states() == ["websocket_disconnected"] * 2)
            fake.add_redemption(reward_id, user_name="while_dead")  # Twitch will never send it now

            await asyncio.to_thread(server.start)
            await fake.eventsub.wait_sessions(2)
            assert not first_sessions & {s.id for s in fake.eventsub.live()}
            assert fake.eventsub.shard_states() == ["enabled", "enabled"]

            async def queued() -> list[Any]:
                async with http.get(f"{url}/api/state", headers=headers) as r:
                    return [e["user_name"] for e in (await r.json())["queue"]]

            await until(lambda: _equals(queued(), ["while_dead"]))
            live = fake.eventsub.live()
            event = {
                "id": fake.add_redemption(reward_id, user_name="after_restart"),
                "broadcaster_user_id": fake.user["id"],
                "user_id": "u-after",
                "user_login": "after_restart",
                "user_name": "after_restart",
                "user_input": "",
                "status": "unfulfilled",
                "reward": {"id": reward_id, "title": "Join", "cost": 10, "prompt": ""},
                "redeemed_at": "2026-12-01T00:00:00Z",
            }
            assert await fake.eventsub.notify(
                "channel.channel_points_custom_reward_redemption.add", fake.user["id"], event
            )
            await until(lambda: _equals(queued(), ["while_dead", "after_restart"]))
            assert [c for c in fake.calls if c[0] in ("create_subscription", "create_conduit")] == created
            assert len(live) == 2
            async with http.get(f"{url}/healthz") as r:
                health = await r.json()
                assert r.status == 200 and health["checks"]["eventsub"]["connected_shards"] == 2
            # A page elsewhere whose domain resolves to 127.0.0.1 (DNS rebinding) reaches the port, not us.
            for host, status in ((f"evil.example:{port}", 421), (f"127.0.0.1:{port}", 200), (f"[::1]:{port}", 200)):
                async with http.get(f"http://127.0.0.1:{port}/healthz", headers={"Host": host}) as r:
                    assert r.status == status, host
                    if status == 421:
                        assert (await r.json())["error"]["code"] == "wrong_host"
        assert (tmp_path / "app.db").stat().st_mode & 0o077 == 0
        assert (tmp_path / ".home-secrets.json").stat().st_mode & 0o777 == 0o600  # the kept signing key
        assert f"twi-overlay production listening on http://127.0.0.1:{port}" in server.output()
    finally:
        if server.proc is not None and server.proc.poll() is None:
            await asyncio.to_thread(server.terminate)
    assert "Traceback" not in server.output()


async def _equals(found: Any, expected: list[str]) -> bool:
    return bool(await found == expected)


async def test_the_overlay_shows_a_redemption_sent_through_the_conduit_within_a_second(
    tmp_path: Path, twitch: tuple[FakeTwitch, str]
) -> None:
    from tests.pages_helpers import BROADCASTER, OVERLAY_KEY, Console, chromium, seed
    from twi_overlay.web.pages import DEMO_BROADCASTER

    fake, base = twitch
    fake.user = dict(DEMO_BROADCASTER)
    reward_id = fake.add_reward("Join the queue")
    fake.rewards["reward-queue"] = {**fake.rewards.pop(reward_id), "id": "reward-queue"}  # the seeded binding
    seed(tmp_path / "app.db")
    port = free_port()
    url = f"http://localhost:{port}"
    command = ("home", "--env-file", str(env_file(tmp_path)))
    server = ServerProcess(tmp_path / "app.db", port, command, **home_env(base, port))
    await asyncio.to_thread(server.start)
    try:
        async with chromium() as browser:
            # Signed in with the browser itself: production's Secure cookies hold on http://localhost.
            admin = await browser.new_page()
            await admin.goto(f"{url}/oauth/login")
            await admin.wait_for_url(f"{url}/admin/")
            session = await admin.evaluate("fetch('/api/session').then(r => r.json())")
            assert session["broadcaster"]["login"] == "demo_streamer", session
            await fake.eventsub.wait_sessions(2)
            await until(lambda: len(fake.subscriptions) == 10)
            await admin.reload()  # the admin page shows the transport and each shard
            await admin.wait_for_function("document.getElementById('transport-status').textContent.includes('2 of 2')")
            shown = await admin.text_content("#transport-status")
            assert shown.startswith("conduit") and "shard 0: connected" in shown and "shard 1: connected" in shown
            page = await browser.new_page(viewport={"width": 1920, "height": 1080})
            console = Console(page)
            await page.goto(f"{url}/overlay/#key={OVERLAY_KEY}")
            await page.wait_for_function("window.twiOverlay && window.twiOverlay.stream.lastId !== null")
            event = {
                "id": fake.add_redemption("reward-queue", user_name="Conduit_Viewer"),
                "broadcaster_user_id": BROADCASTER,
                "user_id": "u-conduit",
                "user_login": "conduit_viewer",
                "user_name": "Conduit_Viewer",
                "user_input": "hello from the conduit",
                "status": "unfulfilled",
                "reward": {"id": "reward-queue", "title": "Join the queue", "cost": 100, "prompt": ""},
                "redeemed_at": "2026-12-01T00:00:00Z",
            }
            sent = time.monotonic()
            assert await fake.eventsub.notify("channel.channel_points_custom_reward_redemption.add", BROADCASTER, event)
            await page.wait_for_selector("#waiting li", timeout=1000)
            assert time.monotonic() - sent < 1.0
            assert await page.text_content("#waiting li .name") == "Conduit_Viewer"
            assert console.unexpected() == []
    finally:
        await asyncio.to_thread(server.terminate)
    assert "Traceback" not in server.output()
