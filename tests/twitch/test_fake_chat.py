"""The fake Twitch's Send Chat Message keeps Twitch's documented rules, so the pacing tests mean
something: 422 over 500 characters, 401 for a sender who is not the token's user, 100 messages per
30 s for the broadcaster or a moderator, 20 per 30 s and one per second per channel for anyone else,
and `is_sent: false` with a `drop_reason` when Twitch does not send one."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.fake_twitch import CLIENT_ID, FakeTwitch


async def send(s: aiohttp.ClientSession, base: str, token: str, sender: str, channel: str, text: str) -> Any:
    headers = {"Authorization": f"Bearer {token}", "Client-Id": CLIENT_ID}
    body = {"broadcaster_id": channel, "sender_id": sender, "message": text}
    async with s.post(f"{base}/helix/chat/messages", json=body, headers=headers) as r:
        return r.status, await r.json()


async def test_send_chat_message_follows_twitchs_rules(aiohttp_server: Any) -> None:
    fake = FakeTwitch()
    base = str((await aiohttp_server(fake.app())).make_url("")).rstrip("/")
    owner = fake.user["id"]
    broadcaster = fake._issue(owner, CLIENT_ID, ["user:write:chat"])["access_token"]
    bot = fake.sign_in_as("helper_bot")["id"]
    bot_token = fake._issue(bot, CLIENT_ID, ["user:write:chat"])["access_token"]
    no_scope = fake._issue(bot, CLIENT_ID, [])["access_token"]
    async with aiohttp.ClientSession() as s:
        assert (await send(s, base, broadcaster, owner, owner, "x" * 501))[0] == 422
        assert (await send(s, base, broadcaster, bot, owner, "hi"))[0] == 401  # not the token's user
        assert (await send(s, base, no_scope, bot, owner, "hi"))[0] == 401  # no user:write:chat
        assert (await send(s, base, broadcaster, owner, "", "hi"))[0] == 400
        status, body = await send(s, base, broadcaster, owner, owner, "x" * 500)
        assert status == 200 and body["data"][0]["is_sent"] is True
        # Anyone else: one a second in a channel.
        assert (await send(s, base, bot_token, bot, owner, "one"))[1]["data"][0]["is_sent"] is True
        status, body = await send(s, base, bot_token, bot, owner, "two")
        assert body["data"][0] == {
            "message_id": "",
            "is_sent": False,
            "drop_reason": {"code": "msg_ratelimit", "message": "over the send limit"},
        }
        assert len(fake.chat_violations) == 1
        # ... and 20 per 30 s in all (other channels, a second apart or not).
        for i in range(19):
            assert (await send(s, base, bot_token, bot, f"chan{i}", "hey"))[1]["data"][0]["is_sent"] is True
        assert (await send(s, base, bot_token, bot, "chan99", "hey"))[1]["data"][0]["is_sent"] is False
        # The broadcaster in their own channel: 100 per 30 s, no per-second rule.
        for _ in range(98):
            assert (await send(s, base, broadcaster, owner, owner, "go"))[1]["data"][0]["is_sent"] is True
        assert (await send(s, base, broadcaster, owner, owner, "go"))[1]["data"][0]["is_sent"] is True
        assert (await send(s, base, broadcaster, owner, owner, "over"))[1]["data"][0]["is_sent"] is False
        # A moderator of a channel is privileged there; a forced drop says why.
        fake.chat_limits = False
        fake.chat_drop_next = ["msg_rejected"]
        body = (await send(s, base, broadcaster, owner, owner, "spam?"))[1]["data"][0]
        assert body["is_sent"] is False and body["drop_reason"]["code"] == "msg_rejected"
    assert fake.is_moderator(owner, bot) is False
    fake.add_moderator("helper_bot")
    assert fake.is_moderator(owner, bot) is True
