"""The TTL deletes: at most one chunk per call, old processed rows only; expired sessions."""

from __future__ import annotations

import time

from tests.conftest import add_broadcaster
from twi_overlay import repo
from twi_overlay.store.database import Database
from twi_overlay.store.tx import Tx


def _rows(tx: Tx, old: int, new: int = 0) -> None:
    """`old` deliveries received at t=1 (the first one never processed), then `new` ones at t=10."""
    tx.many(
        "INSERT INTO event_raw (message_id, message_type, subscription_type, payload, received_at, processed_at) "
        "VALUES (?, 'notification', 't', x'7b7d', ?, ?)",
        [(f"m{i}", 1 if i < old else 10, None if i == 0 else 1) for i in range(old + new)],
    )


async def test_chunks_walk_the_ids_and_keep_unprocessed_rows(db: Database) -> None:
    await db.write(_rows, repo.maintenance.CHUNK + 11, 5)
    first = await db.write(repo.maintenance.delete_deliveries, 2.0, 0)
    assert first.deleted == repo.maintenance.CHUNK - 1 and first.resume_after == repo.maintenance.CHUNK
    second = await db.write(repo.maintenance.delete_deliveries, 2.0, first.resume_after)
    assert second.deleted == 11 and second.resume_after is None  # it reached the young ones: done
    assert await db.write(repo.maintenance.delete_deliveries, 2.0, 0) == repo.maintenance.Chunk(0, None)
    assert await db.read(repo.events.count_pending) == 1  # the unprocessed one is work we still owe
    assert await db.read(lambda tx: tx.value("SELECT count(*) FROM event_raw")) == 6


async def test_a_chunk_reads_a_bounded_window_however_large_the_table(db: Database) -> None:
    """With a few expired rows in front of 100,000 young ones, a chunk reads one window of ids, not the
    table: SQLite's own instruction count for the chunk stays that of a small table."""

    def steps_of_one_chunk(tx: Tx) -> int:
        steps = [0]

        def count() -> int:
            steps[0] += 1
            return 0

        tx.conn.set_progress_handler(count, 1000)  # called every 1000 virtual machine instructions
        try:
            repo.maintenance.delete_deliveries(tx, 2.0, 0)
        finally:
            tx.conn.set_progress_handler(None, 0)
        return steps[0]

    await db.write(_rows, 10, 2000)
    small = await db.write(steps_of_one_chunk)
    await db.write(_rows_after, 100_000)
    large = await db.write(steps_of_one_chunk)
    assert large <= small + 2, (small, large)


def _rows_after(tx: Tx, n: int) -> None:
    tx.many(
        "INSERT INTO event_raw (message_id, message_type, subscription_type, payload, received_at, processed_at) "
        "VALUES (?, 'notification', 't', x'7b7d', 10, 1)",
        [(f"later-{i}",) for i in range(n)],
    )


async def test_expired_sessions_go(db: Database) -> None:
    await db.write(add_broadcaster)
    await db.write(repo.auth.insert_session, "old", "1337", "csrf", time.time() - 1)
    await db.write(repo.auth.insert_session, "new", "1337", "csrf", time.time() + 60)
    assert await db.write(repo.maintenance.expire_sessions, time.time()) == 1
    assert await db.read(repo.auth.get_session, "new") is not None
