"""Chat commands as the pipeline runs them: each from a viewer, a moderator and the broadcaster, what
they answer, the same message twice acting once, the cooldown, roles deciding who may join and who
goes first, and a ban taking a viewer out of the queue."""

from __future__ import annotations

from typing import Any

import pytest

from tests.domain.commands import ok, queue, redemption, settings
from tests.helpers import BROADCASTER, chat_body
from twi_overlay import repo
from twi_overlay.domain import chat
from twi_overlay.domain.events import Say
from twi_overlay.domain.outcomes import Handled
from twi_overlay.ingest.eventsub import CHAT_MESSAGE, normalise
from twi_overlay.repo.moderators import Moderator
from twi_overlay.store.database import Database

MOD_ID = "777"


async def say(
    d: Database, text: str, user: str = "Viewer32", user_id: str | None = None, **kw: Any
) -> tuple[Handled | str, list[str]]:
    """`user` says `text` in chat: the outcome, and what was said back (threaded replies as '↩ text')."""
    body = chat_body(text, user_id=user_id or f"id-{user.lower()}", user_name=user, **kw)
    norm = normalise(CHAT_MESSAGE, body)
    assert norm is not None
    before = len(d.published)  # type: ignore[attr-defined]
    outcome = await d.write(chat.handle, BROADCASTER, norm.payload, norm.idempotency_key or "")
    said = [e for e in d.published[before:] if isinstance(e, Say)]  # type: ignore[attr-defined]
    return outcome, [("↩ " if s.reply_to else "") + s.text for s in said]


def managed_reward(tx: Any) -> None:
    """r-queue is ours on Twitch: what leaves the queue unserved is refunded."""
    repo.rewards.upsert(tx, BROADCASTER, "r-queue", title="Join", cost=100)
    repo.rewards.set_managed(tx, BROADCASTER, "r-queue", True)


@pytest.fixture
async def on(d: Database) -> Database:
    """Chat commands on, chat joining on, no cooldown; MOD_ID is a moderator on Twitch's list."""
    await settings(d, chat={"enabled": True, "join": True, "cooldown_secs": 0})
    await d.write(repo.moderators.add, BROADCASTER, Moderator(MOD_ID, "a_mod", "A_Mod"))
    return d


def result(outcome: Handled | str) -> str:
    assert isinstance(outcome, Handled), outcome
    return outcome.result + (f": {outcome.reason}" if outcome.reason else "")


async def test_everyone_joins_asks_their_place_sees_the_queue_and_leaves(on: Database) -> None:
    _, said = await say(on, "!join ranked please", "Ann")
    assert said == ["↩ @Ann you're #1 in the queue"]
    await say(on, "!join", "Bob")
    assert await queue(on) == [("Ann", 1, "waiting"), ("Bob", 2, "waiting")]
    assert (await on.read(repo.queue.active, BROADCASTER))[0].user_input == "ranked please"
    assert (await say(on, "!position", "Bob"))[1] == ["↩ @Bob you're #2, 1 ahead of you"]
    assert (await say(on, "!join", "Bob"))[1] == ["↩ @Bob you're already #2 in the queue"]
    assert (await say(on, "!queue", "Cat"))[1] == ["↩ Next up: Ann, Bob"]
    assert (await say(on, "!position", "Cat"))[1] == ["↩ @Cat you're not in the queue"]
    assert (await say(on, "!leave", "Ann"))[1] == ["↩ @Ann you left the queue"]
    assert await queue(on) == [("Bob", 1, "waiting")]
    log = await on.read(repo.commands.recent, BROADCASTER, 20)
    assert [(r.type, r.source, r.actor) for r in log[:2]] == [
        ("chat.leave", "chat", "Ann"),
        ("chat.position", "chat", "Cat"),
    ]


async def test_a_viewers_moderator_commands_are_refused_silently(on: Database) -> None:
    await say(on, "!join", "Ann")
    for text in ("!next", "!random", "!close", "!remove @Ann", "!done @Ann", "!count deaths +1"):
        outcome, said = await say(on, text, "Mallory", badges=("moderator",))  # a badge is not the list
        assert result(outcome) == "rejected: moderators_only" and said == [], text
    assert await queue(on) == [("Ann", 1, "waiting")]
    assert (await on.read(repo.settings.get, BROADCASTER)).doc["queue"]["open"] is True  # type: ignore[union-attr]


@pytest.mark.parametrize("who", [("A_Mod", MOD_ID), ("Cool_User", BROADCASTER)])
async def test_moderators_and_the_broadcaster_run_the_queue_from_chat(on: Database, who: tuple[str, str]) -> None:
    name, uid = who
    for viewer in ("Ann", "Bob", "Cat"):
        await say(on, "!join", viewer)
    outcome, said = await say(on, "!next", name, uid)
    assert result(outcome) == "ok" and said == ["@Ann you're up!"]  # announced, not a reply to the mod
    assert await queue(on) == [("Ann", 1, "picked"), ("Bob", 2, "waiting"), ("Cat", 3, "waiting")]
    assert (await say(on, "!done @ann", name, uid))[1] == [f"↩ @{name} Ann is done"]
    assert (await say(on, "!remove @Cat", name, uid))[1] == [f"↩ @{name} Cat left the queue"]
    assert (await say(on, "!remove @nobody", name, uid))[1] == [f"↩ @{name} nobody is not in the queue"]
    assert await queue(on) == [("Bob", 1, "waiting")]
    _, said = await say(on, "!random 2", name, uid)
    assert said == ["@Bob you're up!"]
    assert (await say(on, "!next", name, uid))[1] == [f"↩ @{name} nobody is waiting"]
    assert (await say(on, "!close", name, uid))[1] == ["The queue is closed"]
    assert (await say(on, "!join", "Dan"))[1] == ["↩ @Dan the queue is closed"]
    assert (await say(on, "!open", name, uid))[1] == ["The queue is open: type !join to join"]
    assert (await say(on, "!count deaths", name, uid))[1] == ["↩ deaths: 1"]
    assert (await say(on, "!count deaths +4", name, uid))[1] == ["↩ deaths: 5"]
    assert (await say(on, "!count deaths -2", name, uid))[1] == ["↩ deaths: 3"]
    assert (await say(on, "!count deaths =10", name, uid))[1] == ["↩ deaths: 10"]
    outcome, said = await say(on, "!count deaths x", name, uid)
    assert result(outcome) == "rejected: bad_arguments" and said == []
    assert await on.read(repo.counters.values, BROADCASTER) == {"deaths": 10}
    log = await on.read(repo.commands.recent, BROADCASTER, 1)
    assert log[0].actor == name


async def test_the_same_message_twice_acts_once_and_answers_once(on: Database) -> None:
    first, said = await say(on, "!join", "Ann", message_id="m-1")
    again, said_again = await say(on, "!join", "Ann", message_id="m-1")  # the same chat message, redelivered
    assert result(first) == "ok" and isinstance(again, Handled) and again.replayed
    assert said == ["↩ @Ann you're #1 in the queue"] and said_again == []
    assert await queue(on) == [("Ann", 1, "waiting")]


async def test_what_is_not_a_command_leaves_no_trace_but_the_chatters_roles(on: Database) -> None:
    assert await say(on, "hello chat", "Ann", badges=("subscriber",)) == ("ignored: not a command", [])
    seen = await on.read(repo.chatters.get, BROADCASTER, "id-ann")
    assert seen is not None and seen.roles == {"subscriber"}
    assert await say(on, "!dance", "Ann") == ("ignored: not a command", [])
    seen = await on.read(repo.chatters.get, BROADCASTER, "id-ann")
    assert seen is not None and seen.roles == frozenset()  # the badges of their last message count
    assert await say(on, "!join", "Eve", shared_from="999") == ("ignored: shared from another channel", [])
    assert [r for r in await on.read(repo.commands.recent, BROADCASTER, 50) if r.source == "chat"] == []
    await settings(on, chat={"enabled": False})
    assert await say(on, "!join", "Ann") == ("ignored: chat commands are off", [])


async def test_the_prefix_names_replies_and_threads_are_the_streamers(on: Database) -> None:
    await settings(
        on,
        chat={
            "prefix": "?",
            "commands": {"join": "play", "queue": ""},
            "replies": {"joined": "{user} is number {position}", "not_in_queue": ""},
        },
    )
    assert (await say(on, "?PLAY", "Ann"))[1] == ["↩ Ann is number 1"]
    assert (await say(on, "!join", "Bob"))[0] == "ignored: not a command"
    assert (await say(on, "?queue", "Bob"))[0] == "ignored: not a command"  # turned off
    outcome, said = await say(on, "?position", "Bob")
    assert result(outcome) == "rejected: not_in_queue" and said == []  # an empty reply is not sent
    # A threaded reply starts with Twitch's @mention of the parent: the command after it counts.
    assert (await say(on, "?play", "Cat", reply_to="Ann"))[1] == ["↩ Cat is number 2"]


async def test_a_viewer_cooldown_paces_commands_but_not_moderators(on: Database) -> None:
    await settings(on, chat={"cooldown_secs": 60})
    await say(on, "!join", "Ann")
    outcome, said = await say(on, "!position", "Ann")
    assert result(outcome) == "rejected: cooldown" and said == []
    await say(on, "!count runs", "A_Mod", MOD_ID)
    assert (await say(on, "!count runs", "A_Mod", MOD_ID))[1] == ["↩ runs: 2"]


async def test_chat_joining_off_points_to_channel_points(on: Database) -> None:
    await settings(on, chat={"join": False})
    outcome, said = await say(on, "!join", "Ann")
    assert result(outcome) == "rejected: chat_join_off" and said == ["↩ @Ann join the queue with channel points"]
    assert await queue(on) == []


async def test_priority_puts_subscribers_and_vips_first_in_join_order(on: Database) -> None:
    await settings(on, rewards={"r-queue": "queue"}, queue={"priority": ["subscribers", "vips"], "per_user_limit": 5})
    await say(on, "!join", "Plain1")
    await ok(on, "queue.pick", {})  # Plain1 plays: nobody goes ahead of whoever is playing
    await say(on, "!join", "Plain2")
    await say(on, "!join", "Sub1", badges=("subscriber",))
    await say(on, "!join", "Vip1", badges=("vip",))
    # A redemption learns the viewer's roles from their badges in chat (Founder counts as a subscriber).
    await say(on, "hi", "Sub2", badges=("founder",))
    await ok(on, "redemption.add", redemption("rd-1", "Sub2", user_id="id-sub2"), source="twitch")
    await ok(on, "redemption.add", redemption("rd-2", "Plain3", user_id="id-plain3"), source="twitch")
    await ok(on, "queue.enqueue", {"user_name": "WalkIn"})  # the admin's: at the end, as placed
    assert [name for name, _, _ in await queue(on)] == ["Plain1", "Sub1", "Vip1", "Sub2", "Plain2", "Plain3", "WalkIn"]
    assert (await say(on, "!position", "Plain2"))[1] == ["↩ @Plain2 you're #5, 4 ahead of you"]


async def test_eligibility_refuses_and_refunds_those_who_may_not_join(on: Database) -> None:
    await settings(on, rewards={"r-queue": "queue"}, queue={"eligibility": "subscribers_vips"})
    await on.write(managed_reward)
    outcome, said = await say(on, "!join", "Plain")
    assert result(outcome) == "rejected: not_eligible" and said == [
        "↩ @Plain this queue is for subscribers and VIPs only"
    ]
    assert result((await say(on, "!join", "Vip", badges=("vip",)))[0]) == "ok"
    assert result((await say(on, "!join", "Mod", MOD_ID))[0]) == "ok"  # the channel's team always may
    # A redemption from someone never seen in chat is refused, and refunded.
    answer = await ok(on, "redemption.add", redemption("rd-9", "Stranger"), source="twitch")
    assert answer["result"] == "rejected" and answer["reason"] == "not_eligible"
    job = await on.read(repo.helix_jobs.by_redemption, BROADCASTER, "rd-9")
    assert job is not None and job.action == "CANCELED"
    assert [name for name, _, _ in await queue(on)] == ["Vip", "Mod"]


async def test_a_ban_takes_the_viewer_out_and_refunds(on: Database) -> None:
    await settings(on, rewards={"r-queue": "queue"})
    await on.write(managed_reward)
    await ok(on, "redemption.add", redemption("rd-1", "Troll", user_id="id-troll"), source="twitch")
    await say(on, "!join", "Ann")
    answer = await ok(on, "viewer.banned", {"user_id": "id-troll", "user_login": "troll"}, source="twitch")
    assert answer["data"]["entry_ids"] and [name for name, _, _ in await queue(on)] == ["Ann"]
    job = await on.read(repo.helix_jobs.by_redemption, BROADCASTER, "rd-1")
    assert job is not None and job.action == "CANCELED"
    again = await ok(on, "viewer.banned", {"user_id": "id-troll"}, source="twitch")
    assert again["reason"] == "not in the queue"
