"""Recorded subscriptions: per broadcaster, and the ones a revocation asks us to re-create."""

from __future__ import annotations

from twi_overlay import repo
from twi_overlay.store.database import Database


async def test_record_list_and_resubscribe(db: Database) -> None:
    await db.write(repo.subscriptions.record, "s1", "1337", "stream.online", "1", "enabled", False)
    await db.write(
        repo.subscriptions.record, "s2", "1337", "stream.offline", "1", "notification_failures_exceeded", True
    )
    await db.write(repo.subscriptions.record, "s3", "999", "stream.online", "1", "enabled", False)
    assert [s.id for s in await db.read(repo.subscriptions.of_broadcaster, "1337")] == ["s2", "s1"]
    assert await db.read(repo.subscriptions.count_resubscribe) == 1
    await db.write(repo.subscriptions.clear_resubscribe)
    assert await db.read(repo.subscriptions.count_resubscribe) == 0
