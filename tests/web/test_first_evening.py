"""The admin page as a new streamer meets it on a first evening, in headless Chromium against the real
server process: hidden things stay hidden, the longest Twitch name and a long note leave every action
reachable at 1280 px and on a phone, and the overlay URL is still there after a reload."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import ServerProcess
from tests.pages_helpers import Console, chromium
from tests.web.test_static import webhook

pytestmark = pytest.mark.slow

LONGEST_NAME = "A" * 12 + "_Longest_Name"  # 25 characters, Twitch's maximum
LONG_NOTE = ("could you play the map with the lava and the moving platforms after this one please " * 3)[:200]


async def reachable(page: Any, selector: str) -> None:
    """Visible, inside the viewport's width once scrolled to, and the topmost element at its centre:
    what a click lands on."""
    box = await page.locator(selector).bounding_box()
    assert box is not None, selector
    width = page.viewport_size["width"]
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box, width)
    await page.locator(selector).scroll_into_view_if_needed()
    hit = await page.locator(selector).evaluate(
        """el => { const r = el.getBoundingClientRect();
                   const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
                   return top === el || el.contains(top); }"""
    )
    assert hit, f"{selector} is covered"


async def test_hidden_things_stay_hidden_when_signed_out(server: ServerProcess) -> None:
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        console = Console(page)
        await page.goto(server.url + "/admin/")
        await page.wait_for_selector("#login:not([hidden])")
        for selector in ("#logout", "#logout-all", "#mock", "#app"):
            assert not await page.locator(selector).is_visible(), selector
        assert console.unexpected() == []


@pytest.mark.parametrize("width", [1280, 390])
async def test_a_25_character_name_and_a_long_note_leave_every_action_reachable(
    server: ServerProcess, width: int
) -> None:
    await webhook(server, reward_id="reward-queue", user_name=LONGEST_NAME, user_input=LONG_NOTE, user_id="1")
    await webhook(server, reward_id="reward-queue", user_name="short", user_input="hi", user_id="2")
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": width, "height": 900})
        console = Console(page)
        await page.goto(server.url + "/_debug/login")
        await page.wait_for_selector(f"#queue li:has-text('{LONGEST_NAME}')")
        row = f"#queue li:has-text('{LONGEST_NAME}')"
        assert await page.text_content(f"{row} .name") == LONGEST_NAME
        note = page.locator(f"{row} .note")
        assert await note.text_content() == LONG_NOTE
        # The whole note is on the page (wrapped), not cut to a few characters.
        assert await note.evaluate("n => n.scrollWidth <= n.clientWidth + 1")
        for action in ("Move down", "Complete (fulfil on Twitch)", "Cancel (refund on Twitch)"):
            await reachable(page, f"{row} button[title='{action}']")
        for selector in ("#pick-next", "#pick-random", "#clear-complete", "#clear-cancel", "#mock", "#rotate-key"):
            await reachable(page, selector)
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
        await page.click(f"{row} button[title='Complete (fulfil on Twitch)']")
        await page.wait_for_selector(row, state="detached")
        assert console.unexpected() == []


async def test_the_overlay_url_is_still_shown_after_a_reload(server: ServerProcess) -> None:
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        console = Console(page)
        await page.goto(server.url + "/_debug/login")
        await page.wait_for_selector("#app:not([hidden])")
        # A key made before keys could be shown again (the seeded one): the page says to rotate once.
        await page.wait_for_function("document.getElementById('overlay-url').placeholder.includes('rotate once')")
        await page.click("#rotate-key")  # nothing shown yet: no confirmation needed
        await page.wait_for_function("document.getElementById('overlay-url').value.includes('#key=')")
        url = await page.input_value("#overlay-url")
        await page.reload()
        await page.wait_for_function("document.getElementById('overlay-url').value.includes('#key=')")
        assert await page.input_value("#overlay-url") == url
        # Rotating asks first; declining keeps the URL that OBS already has.
        page.once("dialog", lambda d: d.dismiss())
        await page.click("#rotate-key")
        assert await page.input_value("#overlay-url") == url
        overlay = await browser.new_page(viewport={"width": 1920, "height": 1080})
        await overlay.goto(url)
        await overlay.wait_for_function("window.twiOverlay && window.twiOverlay.stream.lastId !== null")
        assert console.unexpected() == []
