"""A separate chat bot: the broadcaster makes a 15-minute link, the bot signs in with it from its own
browser (its own grant, stored like the broadcaster's), and from then on it reads the channel's chat
and answers in it, paced as a non-moderator unless Twitch lists it as one; its own messages are not
commands; removing it hands chat back to the channel's own account."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from yarl import URL

from tests.helpers import chat_body
from tests.twitch.helpers import USER, Browser, deliver_moderator_event, held_refreshes
from tests.twitch.test_chat import chat_on, post, settle
from tests.web.helpers import error
from twi_overlay import keys, repo
from twi_overlay.ingest.eventsub import MODERATOR_ADD
from twi_overlay.twitch import subscriptions
from twi_overlay.web.auth import bot_invite


@pytest.fixture
async def elsewhere(app_client: Any) -> AsyncIterator[Browser]:
    """A private window: no session of ours; Twitch there is signed in as whoever `sign_in_as` says."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield Browser(app_client, session)


async def bot_signs_in(
    client: Any, fake: Any, browser: Browser, csrf: dict[str, str], login: str = "Helper_Bot"
) -> Any:
    r = await client.post("/api/chat-bot/invite", headers=csrf)
    assert r.status == 200, await r.text()
    link = (await r.json())["url"]
    fake.sign_in_as(login)
    try:
        r = await browser.get(str(URL(link).relative()), allow_redirects=False)
        assert r.status == 302, await r.text()
        query = URL(r.headers["Location"]).query
        assert query["scope"] == "user:read:chat user:write:chat user:bot" and query["force_verify"] == "true"
        async with browser.session.get(r.headers["Location"], allow_redirects=False) as consent:
            callback = consent.headers["Location"]
        return await browser.session.get(callback, allow_redirects=False)
    finally:
        fake.signing_in = None


async def test_a_bot_reads_and_answers_the_channels_chat(app_client: Any, twitch: Any, elsewhere: Browser) -> None:
    fake, _ = twitch
    csrf = await chat_on(app_client)
    r = await bot_signs_in(app_client, fake, elsewhere, csrf)
    assert r.status == 200 and "Helper_Bot is now the chat account" in await r.text()
    bot = next(u for u in fake.people.values() if u["login"] == "helper_bot")
    status = await (await app_client.get("/api/oauth/status")).json()
    assert status["chat_bot"] == {"user_login": "helper_bot", "user_name": "Helper_Bot", "usable": True}
    await subscriptions.reconcile(app_client.app[keys.DB], app_client.app[keys.TWITCH])
    chat_subs = [s for s in fake.subscriptions.values() if s["type"] == "channel.chat.message"]
    assert [s["condition"] for s in chat_subs] == [{"broadcaster_user_id": USER, "user_id": bot["id"]}]
    await post(app_client, chat_body("!join", broadcaster_id=USER, user_name="Chatty", message_id="c-1"))
    await post(app_client, chat_body("!join", broadcaster_id=USER, user_id=bot["id"], user_name="Helper_Bot"))
    await settle(app_client)
    state = await (await app_client.get("/api/state")).json()
    assert [e["user_name"] for e in state["queue"]] == ["Chatty"]  # the bot's own message is not a command
    assert [(m["sender_id"], m["message"]) for m in fake.chat_sent] == [(bot["id"], "@Chatty you're #1 in the queue")]


async def test_a_bot_that_is_not_a_moderator_sends_one_a_second(
    app_client: Any, twitch: Any, elsewhere: Browser
) -> None:
    fake, _ = twitch
    csrf = await chat_on(app_client)
    await bot_signs_in(app_client, fake, elsewhere, csrf)
    for i in range(5):
        await post(app_client, chat_body("!position", broadcaster_id=USER, user_id=f"v{i}", user_name=f"v{i}"))
    await settle(app_client)
    assert len(fake.chat_sent) == 1 and fake.chat_violations == []  # the other four wait their second
    # Made a moderator on Twitch: the larger limit, no per-second rule.
    helper = fake.add_moderator("Helper_Bot")
    await deliver_moderator_event(app_client, MODERATOR_ADD, helper)
    for i in range(5, 10):
        await post(app_client, chat_body("!position", broadcaster_id=USER, user_id=f"v{i}", user_name=f"v{i}"))
    await settle(app_client)
    assert len(fake.chat_sent) >= 6 and fake.chat_violations == []


async def test_an_expired_or_forged_link_and_the_channels_own_account_are_refused(
    app_client: Any, twitch: Any, elsewhere: Browser
) -> None:
    fake, _ = twitch
    csrf = await chat_on(app_client)
    key = app_client.app[keys.SETTINGS].sse_token_signing_key
    expired, _ = bot_invite(key, USER, now=0)
    forged, _ = bot_invite("not-our-signing-key-but-just-as-long-as-one", USER)
    for invite in (expired, forged, ""):
        await error(
            await elsewhere.get(f"/oauth/login?as=bot&invite={invite}", allow_redirects=False), 403, "invalid_invite"
        )
    r = await bot_signs_in(app_client, fake, elsewhere, csrf, login="real_streamer")  # signed in as the channel
    assert r.status == 400 and "own account" in await r.text()
    assert await app_client.app[keys.DB].read(repo.chat_bots.get, USER) is None
    # A link for a channel that is no longer on the server (its row deleted meanwhile): refused, not a 500.
    r = await app_client.post("/api/chat-bot/invite", headers=csrf)
    link = (await r.json())["url"]
    await app_client.app[keys.DB].write(lambda tx: tx.execute("DELETE FROM broadcasters WHERE id = ?", (USER,)))
    fake.sign_in_as("Helper_Bot")
    try:
        r = await elsewhere.get(str(URL(link).relative()), allow_redirects=False)
        async with elsewhere.session.get(r.headers["Location"], allow_redirects=False) as consent:
            callback = consent.headers["Location"]
        r = await elsewhere.session.get(callback, allow_redirects=False)
    finally:
        fake.signing_in = None
    assert r.status == 403 and "expired" in await r.text()


async def test_removing_the_bot_hands_chat_back_and_revokes_its_token(
    app_client: Any, twitch: Any, elsewhere: Browser
) -> None:
    fake, _ = twitch
    csrf = await chat_on(app_client)
    await bot_signs_in(app_client, fake, elsewhere, csrf)
    bot_id = next(u for u in fake.people.values() if u["login"] == "helper_bot")["id"]
    fake.expire_access_tokens()  # the bot's token has expired: the send refreshes it and goes through
    await post(app_client, chat_body("!queue", broadcaster_id=USER))
    await settle(app_client)
    assert [m["sender_id"] for m in fake.chat_sent] == [bot_id]
    r = await app_client.delete("/api/chat-bot", headers=csrf)
    assert r.status == 200 and (await r.json())["removed"] is True
    await app_client.app[keys.TASKS].join()
    assert bot_id in fake.revoked
    assert (await (await app_client.get("/api/oauth/status")).json())["chat_bot"] is None
    await post(app_client, chat_body("!queue", broadcaster_id=USER))
    await settle(app_client)
    assert fake.chat_sent[-1]["sender_id"] == USER
    await subscriptions.reconcile(app_client.app[keys.DB], app_client.app[keys.TWITCH])
    chat_subs = [s for s in fake.subscriptions.values() if s["type"] == "channel.chat.message"]
    assert [s["condition"]["user_id"] for s in chat_subs] == [USER]


async def test_a_bots_token_is_refreshed_once_for_callers_at_the_same_time(
    app_client: Any, twitch: Any, elsewhere: Browser
) -> None:
    """The sender and the hourly validation meet the bot's expired token together: one refresh, the
    bot's grant stays usable."""
    fake, _ = twitch
    csrf = await chat_on(app_client)
    assert (await bot_signs_in(app_client, fake, elsewhere, csrf)).status == 200
    tw = app_client.app[keys.TWITCH]
    calls = await held_refreshes(fake, lambda: tw.refresh_bot(USER), 2)
    fake.refresh_gate.set()
    tokens = await asyncio.gather(*calls)
    assert tokens[0] == tokens[1] and fake.access[tokens[0]].valid
    assert fake.calls.count(("token", "refresh_token")) == 1
    status = await (await app_client.get("/api/oauth/status")).json()
    assert status["chat_bot"]["usable"] is True
