"""moderator.add / moderator.remove (from Twitch's channel.moderator events): the list, and the admin
pages told; removing someone who is not a moderator changes nothing and says nothing."""

from __future__ import annotations

from tests.domain.commands import ok, run
from tests.helpers import BROADCASTER
from twi_overlay import repo
from twi_overlay.domain import moderators
from twi_overlay.domain.outcomes import Refused
from twi_overlay.store.database import Database

MOD = {"user_id": "42", "user_login": "helper", "user_name": "Helper"}


async def test_add_and_remove_keep_the_list_and_tell_the_admin_pages(d: Database) -> None:
    r = await ok(d, "moderator.add", MOD, source="twitch")
    assert r["events"] == [
        {"type": "moderators.changed", "data": {"added": ["helper"], "removed": [], "removed_ids": []}}
    ]
    assert [m.user_login for m in await d.read(repo.moderators.of_broadcaster, BROADCASTER)] == ["helper"]
    assert await d.read(repo.moderators.is_moderator, BROADCASTER, "42")
    changed = [e for e in d.published if e.type == "moderators.changed"]  # type: ignore[attr-defined]
    assert changed and changed[0].overlay is None  # the admin pages only
    r = await ok(d, "moderator.remove", MOD, source="twitch")
    assert r["events"] == [
        {"type": "moderators.changed", "data": {"added": [], "removed": ["helper"], "removed_ids": ["42"]}}
    ]
    r = await ok(d, "moderator.remove", MOD, source="twitch")  # the same event again: nothing to say
    assert r["events"] == []
    assert await d.read(repo.moderators.of_broadcaster, BROADCASTER) == []


async def test_an_event_without_a_user_is_refused(d: Database) -> None:
    assert isinstance(await run(d, "moderator.add", {"user_login": "x"}, source="twitch"), Refused)


async def test_a_removed_moderator_loses_their_sessions_in_the_same_transaction(d: Database) -> None:
    await ok(d, "moderator.add", MOD, source="twitch")
    other = {"user_id": "43", "user_login": "other", "user_name": "Other"}
    await ok(d, "moderator.add", other, source="twitch")
    for user_id in ("42", "43"):
        await d.write(repo.auth.insert_session, f"h{user_id}", BROADCASTER, "c", 2e9, "moderator", user_id, "n")
    await d.write(repo.auth.insert_session, "own", BROADCASTER, "c", 2e9)
    await ok(d, "moderator.remove", MOD, source="twitch")
    assert await d.read(repo.auth.get_session, "h42") is None
    assert await d.read(repo.auth.get_session, "h43") is not None and await d.read(repo.auth.get_session, "own")
    # The whole list from Get Moderators: whoever is missing from it is removed the same way.
    added, removed = await d.write(moderators.replace, BROADCASTER, [repo.moderators.Moderator("44", "new", "New")])
    assert added == ["44"] and removed == ["43"]
    assert await d.read(repo.auth.get_session, "h43") is None and await d.read(repo.auth.get_session, "own")
    last = [e for e in d.published if e.type == "moderators.changed"][-1]  # type: ignore[attr-defined]
    assert last.data == {"added": ["new"], "removed": ["other"], "removed_ids": ["43"]}


def test_a_moderator_may_run_the_queue_and_counters_and_open_or_close_the_queue_only() -> None:
    for type_ in ("queue.enqueue", "queue.pick", "queue.complete", "queue.cancel", "queue.move", "counter.set"):
        assert moderators.moderator_may_run(type_, {})
    assert moderators.moderator_may_run("settings.update", {"version": 3, "settings": {"queue": {"open": False}}})
    for type_, payload in (
        ("queue.clear", {"mode": "cancel"}),
        ("redemption.retry", {}),
        ("settings.update", {"version": 3, "settings": {"queue": {"open": False, "max_length": 9}}}),
        ("settings.update", {"version": 3, "settings": {"queue": {"open": False}, "overlay": {}}}),
        ("settings.update", {"version": 3, "settings": {"queue": "open"}}),
        ("settings.update", {"version": 3}),
        ("settings.update", "nonsense"),
        ("moderator.add", MOD),
    ):
        assert not moderators.moderator_may_run(type_, payload), (type_, payload)
