"""Chat from the streamer's side, in headless Chromium against the real server and the fake Twitch: turn
chat on in the admin page, re-connect Twitch for its scopes when the page asks, and a viewer's !join in
chat appears on the overlay and the admin page while Twitch receives the threaded reply."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.helpers import chat_body, delivery
from tests.pages_helpers import Console, chromium, server_with_fake_twitch

pytestmark = pytest.mark.slow
CHANNEL = "5550001"


async def test_a_chat_join_shows_on_both_pages_and_is_answered_in_chat(tmp_path: Path, aiohttp_server: Any) -> None:
    async with server_with_fake_twitch(tmp_path, aiohttp_server) as (fake, server):
        async with chromium() as browser:
            admin = await browser.new_page(viewport={"width": 1280, "height": 900})
            console = Console(admin)
            await admin.goto(server.url + "/admin/")
            await admin.click("text=Sign in with Twitch")
            await admin.wait_for_selector("#oauth-status:has-text('connected')")
            assert not await admin.is_visible("#chat-reconsent")
            await admin.check("#s-chat")
            await admin.check("#s-chat-join")
            await admin.click("#settings-form button[type=submit]")
            # The grant has no chat scopes yet: the page asks to re-connect, which asks Twitch for them.
            await admin.wait_for_selector("#chat-reconsent:visible")
            await admin.click("#chat-reconsent-link")
            await admin.wait_for_selector("#oauth-status:has-text('user:write:chat')")
            assert not await admin.is_visible("#chat-reconsent")
            await admin.click("#rotate-key")
            await admin.wait_for_function("document.getElementById('overlay-url').value.includes('#key=')")
            overlay_url = await admin.input_value("#overlay-url")
            overlay = await browser.new_page(viewport={"width": 1920, "height": 1080})
            overlay_console = Console(overlay)
            await overlay.goto(overlay_url)
            await overlay.wait_for_function("window.twiOverlay && window.twiOverlay.stream.lastId !== null")

            body = chat_body("!join first time here", broadcaster_id=CHANNEL, user_name="Chatty", message_id="m-42")
            headers, raw = delivery(body)
            async with (
                aiohttp.ClientSession() as s,
                s.post(server.url + "/eventsub/webhook", data=raw, headers=headers) as r,
            ):
                assert r.status == 204
            await overlay.wait_for_selector("text=Chatty")
            await admin.wait_for_selector("#queue li:has-text('Chatty')")
            await admin.wait_for_selector("#log li:has-text('chat.join (chat, Chatty)')")
            await asyncio.wait_for(fake.chat_arrived.wait(), 10)  # the reply goes out right after the commit
            assert [(m["message"], m["reply_parent_message_id"]) for m in fake.chat_sent] == [
                ("@Chatty you're #1 in the queue", "m-42")
            ]

            # A bot account: the page makes a link, the bot opens it elsewhere, the page follows.
            await admin.click("#chat-bot-invite")
            await admin.wait_for_selector("#chat-bot-link-box:visible")
            link = await admin.input_value("#chat-bot-link")
            assert "/oauth/login?as=bot&invite=" in link
            private = await browser.new_page()  # another context: no cookies of ours
            fake.sign_in_as("Helper_Bot")
            await private.goto(link)
            assert "Helper_Bot is now the chat account" in await private.text_content("h1")
            await admin.wait_for_selector("#chat-account:has-text('Helper_Bot (bot)')")
            assert not await admin.is_visible("#chat-bot-link-box")
            assert console.unexpected() == [] and overlay_console.unexpected() == []
