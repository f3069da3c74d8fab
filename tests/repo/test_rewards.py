"""Rewards: upserts keep what Twitch said; `managed` unknown until told; removed ones are not listed."""

from __future__ import annotations

from tests.conftest import add_broadcaster
from twi_overlay import repo
from twi_overlay.store.database import Database


async def test_upsert_managed_paused_removed(db: Database) -> None:
    await db.write(add_broadcaster)
    reward = await db.write(lambda tx: repo.rewards.upsert(tx, "1337", "r1", title="Join", cost=100))
    assert (reward.title, reward.cost, reward.managed, reward.is_paused) == ("Join", 100, None, False)
    await db.write(repo.rewards.set_managed, "1337", "r1", True)
    await db.write(repo.rewards.set_paused, "1337", "r1", True)
    reward = await db.read(repo.rewards.get, "1337", "r1")
    assert reward is not None and reward.managed is True and reward.is_paused is True
    assert await db.read(repo.rewards.managed_ids, "1337") == {"r1"}
    await db.write(lambda tx: repo.rewards.upsert(tx, "1337", "r2", title="Gone", removed=True))
    assert [r.id for r in await db.read(repo.rewards.listed, "1337")] == ["r1"]
