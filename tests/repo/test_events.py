"""Stored deliveries: pending in arrival order after a cursor, marked once."""

from __future__ import annotations

from twi_overlay import repo
from twi_overlay.store.database import Database


async def test_pending_mark_and_count(db: Database) -> None:
    for i in range(3):
        await db.write(repo.events.insert_one, f"m{i}", "notification", "stream.online", "1337", b"{}", 1.0)
    await db.write(repo.events.insert_one, "m0", "notification", "stream.online", "1337", b"{}", 2.0)  # a copy
    rows = await db.read(repo.events.pending, 0, 10)
    assert [r.message_id for r in rows] == ["m0", "m1", "m2"] and rows[0].payload == b"{}"
    assert [r.message_id for r in await db.read(repo.events.pending, rows[0].id, 10)] == ["m1", "m2"]
    await db.write(repo.events.mark_processed, rows[0].id, "ok")
    await db.write(repo.events.mark_processed, rows[0].id, "again")  # only the first mark counts
    assert await db.read(repo.events.count_pending) == 2
    outcome = await db.read(lambda tx: tx.value("SELECT outcome FROM event_raw WHERE id = ?", (rows[0].id,)))
    assert outcome == "ok"
