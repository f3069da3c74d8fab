"""repo.moderators: the whole list replaced by Twitch's says who came and who went."""

from __future__ import annotations

from tests.conftest import add_broadcaster
from tests.helpers import BROADCASTER
from twi_overlay import repo
from twi_overlay.repo.moderators import Moderator
from twi_overlay.store.database import Database


async def test_replace_reports_who_was_added_and_removed(db: Database) -> None:
    await db.write(add_broadcaster)
    a, b, c = Moderator("1", "a", "A"), Moderator("2", "b", "B"), Moderator("3", "c", "C")
    assert await db.write(repo.moderators.replace, BROADCASTER, [a, b]) == (["1", "2"], [])
    assert await db.write(repo.moderators.replace, BROADCASTER, [b, c]) == (["3"], ["1"])
    assert await db.read(repo.moderators.of_broadcaster, BROADCASTER) == [b, c]
