"""The TTL deletes: at most one chunk per call, old processed rows only; expired sessions."""

from __future__ import annotations

import time

from tests.conftest import add_broadcaster
from twi_overlay import repo
from twi_overlay.store.database import Database
from twi_overlay.store.tx import Tx


def _rows(tx: Tx, n: int) -> None:
    tx.many(
        "INSERT INTO event_raw (message_id, message_type, subscription_type, payload, received_at, processed_at) "
        "VALUES (?, 'notification', 't', x'7b7d', 1, ?)",
        [(f"m{i}", None if i == 0 else 1) for i in range(n)],
    )


async def test_one_chunk_per_call_and_never_unprocessed_rows(db: Database) -> None:
    await db.write(_rows, repo.maintenance.CHUNK + 11)
    assert await db.write(repo.maintenance.delete_deliveries, 2.0) == repo.maintenance.CHUNK
    assert await db.write(repo.maintenance.delete_deliveries, 2.0) == 10
    assert await db.write(repo.maintenance.delete_deliveries, 2.0) == 0
    assert await db.read(repo.events.count_pending) == 1  # the unprocessed one is work we still owe


async def test_expired_sessions_go(db: Database) -> None:
    await db.write(add_broadcaster)
    await db.write(repo.auth.insert_session, "old", "1337", "csrf", time.time() - 1)
    await db.write(repo.auth.insert_session, "new", "1337", "csrf", time.time() + 60)
    assert await db.write(repo.maintenance.expire_sessions, time.time()) == 1
    assert await db.read(repo.auth.get_session, "new") is not None
