"""A moderator's admin page, in headless Chromium against the real server and the fake Twitch: they sign
in with Twitch, see the queue and counters only, run them while the broadcaster watches, are refused
a settings change, and are cut off the moment Twitch removes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.helpers import ServerProcess, delivery, rfc3339_nano
from tests.pages_helpers import Console, chromium, server_with_fake_twitch

pytestmark = pytest.mark.slow
CHANNEL = "5550001"


async def moderator_removed(server: ServerProcess, user: dict[str, str]) -> None:
    body = {
        "subscription": {"id": "s", "type": "channel.moderator.remove", "version": "1",
                         "condition": {"broadcaster_user_id": CHANNEL}},
        "event": {**user, "broadcaster_user_id": CHANNEL, "broadcaster_user_login": "real_streamer"},
    }  # fmt: skip
    headers, raw = delivery(body, timestamp=rfc3339_nano())
    async with aiohttp.ClientSession() as s, s.post(server.url + "/eventsub/webhook", data=raw, headers=headers) as r:
        assert r.status == 204


async def test_a_moderator_runs_the_queue_from_their_own_page_until_removed(
    tmp_path: Path, aiohttp_server: Any
) -> None:
    async with server_with_fake_twitch(tmp_path, aiohttp_server) as (fake, server):
        fake.add_moderator("Mod_Ann")
        async with chromium() as browser:
            streamer = await browser.new_page(viewport={"width": 1280, "height": 900})  # its own cookies
            streamer_console = Console(streamer)
            await streamer.goto(server.url + "/admin/")
            await streamer.click("text=Sign in with Twitch")
            await streamer.wait_for_selector("#moderators:has-text('Mod_Ann')")  # read from Twitch after sign-in
            assert await streamer.is_checked("#s-moderators")  # on by default

            mod = await browser.new_page(viewport={"width": 390, "height": 844})  # on a phone
            mod_console = Console(mod)
            fake.sign_in_as("mod_ann")
            await mod.goto(server.url + "/admin/")
            await mod.click("text=Sign in as a moderator")
            await mod.wait_for_selector("#app:visible")
            assert "Mod_Ann, moderating Real_Streamer" in await mod.text_content("#who")
            for hidden in ("#settings-card", "#overlay-card", "#status-card", "#clear-cancel", "#logout-all"):
                assert not await mod.is_visible(hidden), hidden
            assert await mod.is_visible("#counters-card") and await mod.is_visible("#log-card")

            # They add a walk-in and close the queue; the broadcaster's page follows live.
            await mod.fill("#add-name", "walk_in_viewer")
            await mod.click("#add-form button[type=submit]")
            await streamer.wait_for_selector("#queue li:has-text('walk_in_viewer')")
            await mod.click("#queue-toggle")
            await streamer.wait_for_selector("#queue-state:visible")
            assert await streamer.is_checked("#s-open") is False
            await streamer.wait_for_selector("#log li:has-text('Mod_Ann')")

            # A settings change is refused, however it is sent.
            refused = await mod.evaluate(
                """async () => {
                     const s = await (await fetch('/api/session')).json();
                     const st = await (await fetch('/api/state')).json();
                     const r = await fetch('/api/commands', {method: 'POST', headers: {
                         'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf_token},
                       body: JSON.stringify({type: 'settings.update', payload: {version: st.settings.version,
                         settings: {queue: {max_length: 3}}}})});
                     return [r.status, (await r.json()).error.code];
                   }"""
            )
            assert refused == [403, "broadcaster_only"]

            # Twitch removes them: their page loses its stream, is refused a new one and signs out.
            await moderator_removed(server, fake.remove_moderator("mod_ann"))
            await mod.wait_for_selector("#login:visible")
            await streamer.wait_for_selector("#moderators:has-text('none')")
            assert streamer_console.unexpected() == []
            # What the page saw: the refused change, its stream cut, and the token refused after.
            assert mod_console.unexpected(allow=("403", "401", "ERR_INCOMPLETE_CHUNKED_ENCODING")) == []
