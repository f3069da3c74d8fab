"""repo.chat_bots: one bot per channel, its grant replaced by a new sign-in, flagged when a refresh is
refused, usable only with every scope a bot needs."""

from __future__ import annotations

from tests.conftest import add_broadcaster
from tests.helpers import BROADCASTER
from twi_overlay import repo
from twi_overlay.repo.chat_bots import BOT_SCOPES
from twi_overlay.store.database import Database


async def test_one_bot_per_channel_and_when_it_is_usable(db: Database) -> None:
    await db.write(add_broadcaster)
    await db.write(repo.chat_bots.store, BROADCASTER, ("9", "old_bot", "Old_Bot"), "a1", "r1", 1.0, BOT_SCOPES)
    await db.write(repo.chat_bots.store, BROADCASTER, ("10", "new_bot", "New_Bot"), "a2", "r2", 2.0, BOT_SCOPES)
    bot = await db.read(repo.chat_bots.get, BROADCASTER)
    assert bot is not None and (bot.user_id, bot.user_login, bot.access_token) == ("10", "new_bot", "a2") and bot.usable
    assert "a2" not in repr(bot)  # tokens stay out of logs and tracebacks
    await db.write(repo.chat_bots.mark_needs_reconsent, BROADCASTER)
    assert not (await db.read(repo.chat_bots.get, BROADCASTER)).usable  # type: ignore[union-attr]
    assert await db.read(repo.chat_bots.usable) == []
    await db.write(repo.chat_bots.set_tokens, BROADCASTER, "a3", "r3", 3.0)
    assert await db.read(repo.chat_bots.usable) == [(BROADCASTER, "a3")]
    await db.write(repo.chat_bots.store, BROADCASTER, ("10", "new_bot", "New_Bot"), "a4", "r4", 4.0, ("user:bot",))
    assert not (await db.read(repo.chat_bots.get, BROADCASTER)).usable  # type: ignore[union-attr]
    assert await db.write(repo.chat_bots.remove, BROADCASTER) is True
    assert await db.read(repo.chat_bots.get, BROADCASTER) is None
