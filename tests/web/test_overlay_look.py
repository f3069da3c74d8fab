"""The overlay is the streamer's: corner, width, text size, colours, an empty card hidden and a sound on
each new entry, from settings, applied by an open overlay without a reload, and previewed on the admin
page before they are saved. The sound a streamer picks: tests/web/test_sounds.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import admin_headers, update_settings
from tests.helpers import ServerProcess
from tests.pages_helpers import CHROMIUM, CHROMIUM_ARGS, Console, update_settings_over_http
from tests.web.helpers import error
from tests.web.test_static import open_overlay, webhook


async def test_the_new_overlay_settings_are_validated_naming_the_field(client: Any) -> None:
    h = admin_headers()
    for field, bad in (
        ("position", "middle"),
        ("width", 100),
        ("font_scale", 300),
        ("accent", "red"),
        ("panel", "#12345"),
        ("hide_empty", "yes"),
        ("sound_volume", 101),
        ("sound_file", "../../etc/passwd"),
    ):
        state = await (await client.get("/api/state", headers=h)).json()
        payload = {"version": state["settings"]["version"], "settings": {"overlay": {field: bad}}}
        r = await client.post("/api/commands", headers=h, json={"type": "settings.update", "payload": payload})
        body = await error(r, 422, "invalid_value")
        assert body["message"].startswith(f"settings.overlay.{field}"), body
    done = await update_settings(client, h, overlay={"accent": "#ff8800", "position": "bottom-left", "width": 800})
    assert done["data"]["settings"]["overlay"]["accent"] == "#ff8800"


@pytest.mark.slow
async def test_layout_colours_and_sound_reach_an_open_overlay_and_the_admin_preview(server: ServerProcess) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        # OBS lets a browser source play sound without a click; so does this Chromium.
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]
        )
        try:
            overlay, console = await open_overlay(browser, server)
            await update_settings_over_http(
                server.url,
                overlay={
                    "position": "bottom-left",
                    "width": 800,
                    "font_scale": 150,
                    "accent": "#ff8800",
                    "hide_empty": True,
                },
            )
            box = "document.getElementById('overlay')"
            await overlay.wait_for_function(f"getComputedStyle({box}).width === '800px'")
            style = await overlay.evaluate(
                f"(() => {{ const s = getComputedStyle({box}); return [s.left, s.bottom, s.fontSize]; }})()"
            )
            assert style == ["40px", "40px", "42px"]
            assert (
                await overlay.evaluate("getComputedStyle(document.body).getPropertyValue('--accent').trim()")
                == "#ff8800"
            )
            assert await overlay.locator("#queue-panel").is_hidden()  # empty, and hidden while empty
            await update_settings_over_http(server.url, overlay={"sound": True, "sound_volume": 30})
            await overlay.wait_for_function("window.twiOverlay.state.settings.overlay.sound === true")
            await webhook(server, reward_id="reward-queue", user_name="Chimes", user_id="1")
            await overlay.wait_for_selector("#queue-panel:not([hidden]) #waiting li")
            await overlay.wait_for_function("window.twiOverlay.sounds.length === 1")
            assert await overlay.evaluate("window.twiOverlay.sounds[0]") == {"url": "/static/chime.wav", "volume": 0.3}
            assert console.unexpected() == []
            # The admin page previews unsaved changes in the real overlay page, in a frame. (Rotating the
            # seeded key, to get one the page can show, cuts the overlay above off, as rotating does.)
            admin = await browser.new_page(viewport={"width": 1280, "height": 900})
            admin_console = Console(admin)
            await admin.goto(server.url + "/_debug/login")
            await admin.wait_for_selector("#app:not([hidden])")
            await admin.wait_for_function("document.getElementById('overlay-url').placeholder.includes('rotate once')")
            await admin.click("#rotate-key")
            await admin.wait_for_selector("#preview-box:not([hidden])")
            frame = admin.frame_locator("#preview")
            await frame.locator("#waiting li").first.wait_for()
            await admin.fill("#s-width", "1000")
            await admin.dispatch_event("#s-width", "input")
            inner = admin.frames[1]
            await inner.wait_for_function(f"getComputedStyle({box}).width === '1000px'")
            assert await admin.locator("#settings-version").text_content() == "v3"  # nothing was saved
            assert admin_console.unexpected() == []
        finally:
            await browser.close()
