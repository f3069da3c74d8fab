"""The public queue page in headless Chromium against the real server: live updates, a viewer finding
their own name, and nothing private on the page."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.conftest import admin_headers
from tests.helpers import ServerProcess, free_port
from tests.pages_helpers import BROADCASTER, Console, chromium, seed
from tests.web.test_static import webhook

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    seed(tmp_path / "app.db")
    srv = ServerProcess(tmp_path / "app.db", port=free_port()).start()
    yield srv
    srv.stop()


async def open_page(server: ServerProcess, **public_page: bool) -> None:
    headers = admin_headers(BROADCASTER)
    async with aiohttp.ClientSession() as s:
        async with s.get(server.url + "/api/state", headers=headers) as r:
            version = (await r.json())["settings"]["version"]
        body = {"type": "settings.update", "payload": {"version": version, "settings": {"public_page": public_page}}}
        async with s.post(server.url + "/api/commands", json=body, headers=headers) as r:
            assert r.status == 200, await r.text()


async def test_the_public_page_updates_live_finds_a_name_and_shows_nothing_private(server: ServerProcess) -> None:
    await open_page(server, enabled=True)
    for i, name in enumerate(["Ann", "Findable_Viewer", "Cid"]):
        await webhook(server, reward_id="reward-queue", user_name=name, user_input="private note", user_id=str(i))
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 390, "height": 800})
        console = Console(page)
        await page.goto(server.url + "/q/demo_streamer")
        await page.wait_for_function("document.querySelectorAll('#entries li').length === 3")
        assert "Demo_Streamer" in await page.text_content("h1")
        html = await page.content()
        assert "private note" not in html and "user_id" not in html  # notes are off by default
        await page.fill("#find", "findable")
        await page.wait_for_selector("#entries li.hit")
        assert await page.text_content("#entries li.hit .name") == "Findable_Viewer"
        assert await page.text_content("#found") == "Findable_Viewer is number 2 (1 ahead)."
        await webhook(server, reward_id="reward-queue", user_name="Late_Comer", user_id="9")  # live, no reload
        await page.wait_for_function("document.querySelectorAll('#entries li').length === 4")
        await open_page(server, enabled=False)
        await page.wait_for_selector("#off:not([hidden])")
        assert await page.locator("#entries li").count() == 0
        assert console.unexpected(allow=("Failed to load resource",)) == []
