"""Chat end to end against the fake Twitch: turning chat on asks for its scopes and subscribes to the
channel's chat and bans; a chat command is answered as a threaded reply; the same message twice acts
once; a burst is paced under Twitch's send limits, merged or dropped (counted), never queued without
bound; a message Twitch does not send is counted, not retried; a ban takes a viewer out."""

from __future__ import annotations

from typing import Any

from tests.conftest import update_settings
from tests.helpers import ban_body, chat_body, delivery
from tests.twitch.helpers import CHAT_SCOPES, USER, after_sign_in, sign_in
from tests.twitch.test_conduit import conduit_app, settled, stored
from twi_overlay import keys, repo
from twi_overlay.domain.events import Say
from twi_overlay.twitch import subscriptions
from twi_overlay.twitch.chat import (
    MAX_AGE_SECS,
    MAX_WAITING,
    OTHERS_PER_WINDOW,
    PRIVILEGED_PER_WINDOW,
    ChatSender,
    Pacer,
    Sender,
)


async def chat_on(client: Any, **chat: Any) -> dict[str, str]:
    """Signed in, chat turned on (and re-consented for its scopes), subscriptions made: the CSRF header."""
    session = await sign_in(client)
    await after_sign_in(client)
    h = {"X-CSRF-Token": session["csrf_token"]}
    await update_settings(client, h, chat={"enabled": True, "join": True, "cooldown_secs": 0, **chat})
    status = await (await client.get("/api/oauth/status")).json()
    assert status["missing_scopes"] == CHAT_SCOPES.split()[3:]  # what chat needs and the grant lacks
    session = await sign_in(client, CHAT_SCOPES)  # the re-consent link asks for them
    await after_sign_in(client)
    assert (await (await client.get("/api/oauth/status")).json())["missing_scopes"] == []
    await subscriptions.reconcile(client.app[keys.DB], client.app[keys.TWITCH])
    return {"X-CSRF-Token": session["csrf_token"]}


async def post(client: Any, body: dict[str, Any], message_id: str | None = None) -> None:
    headers, raw = delivery(body, secret=client.app[keys.SETTINGS].webhook_secret, message_id=message_id)
    assert (await client.post("/eventsub/webhook", data=raw, headers=headers)).status == 204


async def settle(client: Any) -> None:
    await client.app[keys.PROCESSOR].drain()
    await client.app[keys.CHAT].settled()


async def test_turning_chat_on_subscribes_to_the_channels_chat_and_bans(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    await chat_on(app_client)
    subs = {s["type"]: s for s in fake.subscriptions.values()}
    assert subs["channel.chat.message"]["condition"] == {"broadcaster_user_id": USER, "user_id": USER}
    assert subs["channel.ban"]["condition"] == {"broadcaster_user_id": USER}
    # Turned off again: no longer wanted, so deleted at the next pass.
    state = await (await app_client.get("/api/state")).json()
    csrf = {"X-CSRF-Token": (await (await app_client.get("/api/session")).json())["csrf_token"]}
    r = await app_client.post(
        "/api/commands",
        headers=csrf,
        json={
            "type": "settings.update",
            "payload": {"version": state["settings"]["version"], "settings": {"chat": {"enabled": False}}},
        },
    )
    assert r.status == 200
    await subscriptions.reconcile(app_client.app[keys.DB], app_client.app[keys.TWITCH])
    assert "channel.chat.message" not in {s["type"] for s in fake.subscriptions.values()}


async def test_a_first_sign_in_asks_only_for_what_the_defaults_need(app_client: Any, twitch: Any) -> None:
    await sign_in(app_client)  # asserts the scopes asked for: no chat ones
    await after_sign_in(app_client)
    assert "channel.chat.message" not in {s["type"] for s in twitch[0].subscriptions.values()}


async def test_a_join_in_chat_is_answered_in_its_thread_once(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    await chat_on(app_client)
    body = chat_body("!join hello", broadcaster_id=USER, user_name="Chatty", message_id="chat-1")
    await post(app_client, body)
    await post(app_client, body)  # the same chat message under another delivery id
    await settle(app_client)
    state = await (await app_client.get("/api/state")).json()
    assert [(e["user_name"], e["source"]) for e in state["queue"]] == [("Chatty", "chat")]
    assert [(m["message"], m["reply_parent_message_id"], m["sender_id"]) for m in fake.chat_sent] == [
        ("@Chatty you're #1 in the queue", "chat-1", USER)
    ]
    log = (await (await app_client.get("/api/commands")).json())["data"]
    assert [(r["type"], r["source"], r["actor"]) for r in log if r["source"] == "chat"] == [
        ("chat.join", "chat", "Chatty")
    ]


async def test_a_burst_of_200_position_questions_stays_under_the_send_limits(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    await chat_on(app_client)
    sender = app_client.app[keys.CHAT]
    before = dict(sender.counts)
    for i in range(200):
        await post(app_client, chat_body("!position", broadcaster_id=USER, user_id=f"v{i}", user_name=f"viewer{i}"))
    await settle(app_client)
    counts = {k: v - before.get(k, 0) for k, v in sender.counts.items()}
    waiting = list(sender.waiting.get(USER, ()))
    facts = (counts, len(fake.chat_sent), len(waiting), fake.chat_violations[:1])
    assert fake.chat_violations == [], facts  # never over Twitch's limit: it would ignore us for an hour
    assert len(fake.chat_sent) == PRIVILEGED_PER_WINDOW, facts  # the broadcaster's own account, in its channel
    assert len(waiting) <= MAX_WAITING, facts  # nothing queued without bound
    # Every answer is accounted for: sent alone or merged with others, dropped, or waiting its turn.
    sent_parts = sum(m["message"].count(" · ") + 1 for m in fake.chat_sent)
    waiting_parts = sum(m.text.count(" · ") + 1 for m in waiting)
    assert sent_parts + waiting_parts + counts.get("dropped_over_limit", 0) == 200, facts
    assert all(len(m["message"]) <= 500 for m in fake.chat_sent)


async def test_a_message_twitch_does_not_send_is_counted_not_retried(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    await chat_on(app_client)
    fake.chat_drop_next = ["msg_rejected"]
    await post(app_client, chat_body("!queue", broadcaster_id=USER))
    await settle(app_client)
    assert fake.chat_sent == [] and list(app_client.app[keys.CHAT].results)[-1] == (USER, "dropped_by_twitch")


async def test_a_ban_takes_the_viewer_out_of_the_queue(app_client: Any, twitch: Any) -> None:
    await chat_on(app_client)
    await post(app_client, chat_body("!join", broadcaster_id=USER, user_id="troll-1", user_name="Troll"))
    await post(app_client, chat_body("!join", broadcaster_id=USER, user_id="ann-1", user_name="Ann"))
    await settle(app_client)
    await post(app_client, ban_body("troll-1", "Troll", broadcaster_id=USER))
    await settle(app_client)
    state = await (await app_client.get("/api/state")).json()
    assert [e["user_name"] for e in state["queue"]] == ["Ann"]
    assert await app_client.app[keys.DB].read(repo.chatters.get, USER, "troll-1") is not None


def test_the_pacer_keeps_each_senders_limits() -> None:
    now = [0.0]
    pacer = Pacer(clock=lambda: now[0])
    for _ in range(PRIVILEGED_PER_WINDOW):  # the broadcaster in their own channel: 100 / 30 s at once
        assert pacer.wait("b", "b", privileged=True) == 0
        pacer.took("b", "b")
    assert 30 <= pacer.wait("b", "b", privileged=True) <= 31
    now[0] = 30.3
    assert pacer.wait("b", "b", privileged=True) == 0
    # Anyone else: one a second in a channel, 20 per 30 s in all.
    now[0] = 100.0
    for i in range(OTHERS_PER_WINDOW):
        assert pacer.wait("bot", f"c{i}", privileged=False) == 0
        pacer.took("bot", f"c{i}")
    assert pacer.wait("bot", "another", privileged=False) > 29
    now[0] = 200.0
    pacer.took("bot", "c1")
    assert 1.0 <= pacer.wait("bot", "c1", privileged=False) <= 1.3
    assert pacer.wait("bot", "c2", privileged=False) == 0


class OwnAccount:
    """A database that says every channel answers with its own account."""

    async def read(self, fn: Any, channel: str) -> Sender:
        return Sender(channel, True, False)


async def test_an_answer_waiting_too_long_is_dropped_as_stale() -> None:
    now = [0.0]
    pacer = Pacer(clock=lambda: now[0])
    for _ in range(PRIVILEGED_PER_WINDOW):
        pacer.took(USER, USER)  # the window is full for 30 s
    sender = ChatSender(OwnAccount(), None, pacer)  # type: ignore[arg-type]  # nothing may be sent: no Twitch
    sender.send([Say(USER, f"@v{i} you're #{i}") for i in range(3)])
    assert (await sender._send_due() or 0) > 29 and len(sender.waiting[USER]) == 3
    now[0] = MAX_AGE_SECS + 1
    assert await sender._send_due() is None
    assert sender.counts == {"expired": 3} and USER not in sender.waiting


async def test_chat_arrives_over_the_conduit_too_and_twice_acts_once(
    aiohttp_client: Any, settings_env: dict[str, str], twitch: Any
) -> None:
    fake, base = twitch
    client = await conduit_app(aiohttp_client, settings_env, base)
    await chat_on(client)
    await fake.eventsub.wait_sessions(2)
    await settled(client, fake)
    chat_sub = next(s for s in fake.subscriptions.values() if s["type"] == "channel.chat.message")
    assert chat_sub["transport"]["method"] == "conduit"
    body = chat_body("!join", broadcaster_id=USER, user_name="WsViewer", message_id="ws-1")
    sent = await fake.eventsub.notify("channel.chat.message", USER, body["event"], copies=2)
    sent += await fake.eventsub.notify("channel.chat.message", USER, body["event"])  # another delivery id
    await stored(client, sent)
    await settle(client)
    state = await (await client.get("/api/state")).json()
    assert [e["user_name"] for e in state["queue"]] == ["WsViewer"]
    assert [m["message"] for m in fake.chat_sent] == ["@WsViewer you're #1 in the queue"]
