"""moderator.add / moderator.remove (from Twitch's channel.moderator events): the list, and the admin
pages told; removing someone who is not a moderator changes nothing and says nothing."""

from __future__ import annotations

from tests.domain.commands import ok, run
from tests.helpers import BROADCASTER
from twi_overlay import repo
from twi_overlay.domain.outcomes import Refused
from twi_overlay.store.database import Database

MOD = {"user_id": "42", "user_login": "helper", "user_name": "Helper"}


async def test_add_and_remove_keep_the_list_and_tell_the_admin_pages(d: Database) -> None:
    r = await ok(d, "moderator.add", MOD, source="twitch")
    assert r["events"] == [{"type": "moderators.changed", "data": {"added": ["helper"], "removed": []}}]
    assert [m.user_login for m in await d.read(repo.moderators.of_broadcaster, BROADCASTER)] == ["helper"]
    assert await d.read(repo.moderators.is_moderator, BROADCASTER, "42")
    changed = [e for e in d.published if e.type == "moderators.changed"]  # type: ignore[attr-defined]
    assert changed and changed[0].overlay is None  # the admin pages only
    r = await ok(d, "moderator.remove", MOD, source="twitch")
    assert r["events"] == [{"type": "moderators.changed", "data": {"added": [], "removed": ["helper"]}}]
    r = await ok(d, "moderator.remove", MOD, source="twitch")  # the same event again: nothing to say
    assert r["events"] == []
    assert await d.read(repo.moderators.of_broadcaster, BROADCASTER) == []


async def test_an_event_without_a_user_is_refused(d: Database) -> None:
    assert isinstance(await run(d, "moderator.add", {"user_login": "x"}, source="twitch"), Refused)
