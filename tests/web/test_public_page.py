"""The public queue page in headless Chromium against the real server: live updates, a viewer finding
their own name, and nothing private on the page."""

from __future__ import annotations

import pytest

from tests.helpers import ServerProcess
from tests.pages_helpers import Console, chromium, update_settings_over_http
from tests.web.test_static import webhook

pytestmark = pytest.mark.slow


async def test_the_public_page_updates_live_finds_a_name_and_shows_nothing_private(server: ServerProcess) -> None:
    await update_settings_over_http(server.url, public_page={"enabled": True})
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
        await update_settings_over_http(server.url, public_page={"enabled": False})
        await page.wait_for_selector("#off:not([hidden])")
        assert await page.locator("#entries li").count() == 0
        assert console.unexpected(allow=("Failed to load resource",)) == []
