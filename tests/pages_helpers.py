"""Headless Chromium (Debian's package, driven by Playwright) against the real server process."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.helpers import seed_db
from twi_overlay.web.pages import DEMO_BROADCASTER

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-dev-shm-usage",
]
OVERLAY_KEY = "test-overlay-key-0123456789abcdefghijklmnopqrstuv"
# The page tests use the development login's demo broadcaster, so the admin page shows the seeded data.
BROADCASTER = DEMO_BROADCASTER["id"]


def seed(db_path: Path, rewards: dict[str, str] | None = None) -> None:
    seed_db(
        db_path,
        BROADCASTER,
        DEMO_BROADCASTER["login"],
        rewards if rewards is not None else {"reward-queue": "queue", "reward-hug": "counter:hugs"},
        {"per_user_limit": 100},
        OVERLAY_KEY,
    )


class Console:
    """Collects console errors and uncaught page errors of a page."""

    def __init__(self, page: Any):
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def unexpected(self, allow: tuple[str, ...] = ()) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in allow)]


@asynccontextmanager
async def chromium():  # type: ignore[no-untyped-def]
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def update_settings_over_http(url: str, **sections: Any) -> None:
    """settings.update of the demo broadcaster at its current version, through the server's API."""
    import aiohttp

    from tests.conftest import admin_headers

    headers = admin_headers(BROADCASTER)
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/api/state", headers=headers) as r:
            version = (await r.json())["settings"]["version"]
        body = {"type": "settings.update", "payload": {"version": version, "settings": sections}}
        async with s.post(url + "/api/commands", json=body, headers=headers) as r:
            assert r.status == 200, await r.text()


@asynccontextmanager
async def server_with_fake_twitch(tmp_path: Path, aiohttp_server: Any) -> Any:  # type: ignore[misc]
    """The real server process on a fresh database, configured for a fake Twitch served in this test's
    loop: yields (fake, server)."""
    from tests.fake_twitch import CLIENT_ID, CLIENT_SECRET, FakeTwitch
    from tests.helpers import ServerProcess, free_port
    from twi_overlay.store.migrate import migrate

    fake = FakeTwitch()
    base = str((await aiohttp_server(fake.app())).make_url("")).rstrip("/")
    port = free_port()
    migrate(str(tmp_path / "app.db"))
    server = ServerProcess(
        tmp_path / "app.db",
        port=port,
        TWITCH_CLIENT_ID=CLIENT_ID,
        TWITCH_CLIENT_SECRET=CLIENT_SECRET,
        TWITCH_AUTH_BASE=base + "/oauth2",
        TWITCH_API_BASE=base + "/helix",
        OAUTH_REDIRECT_URI=f"http://127.0.0.1:{port}/oauth/callback",
    ).start()
    try:
        yield fake, server
    finally:
        server.stop()
