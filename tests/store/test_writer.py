"""The batching single writer: savepoints, batches, the cap, ACKs first."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.store.helpers import delivery_row
from twi_overlay.store.database import Database


async def test_a_failing_job_rolls_back_alone(db: Database) -> None:
    def insert(tx: Any, bid: str) -> None:
        tx.execute(
            "INSERT INTO broadcasters (id, login, display_name, created_at, updated_at) VALUES (?, 'l', 'd', 0, 0)",
            (bid,),
        )

    def insert_then_fail(tx: Any) -> None:
        insert(tx, "doomed")
        raise ValueError("boom")

    results = await asyncio.gather(
        db.write(insert, "a"), db.write(insert_then_fail), db.write(insert, "b"), return_exceptions=True
    )
    assert results[0] is None and isinstance(results[1], ValueError) and results[2] is None
    ids = await db.read(lambda tx: [r[0] for r in tx.all("SELECT id FROM broadcasters ORDER BY id")])
    assert ids == ["a", "b"]


async def test_concurrent_writes_are_batched_and_all_commit(db: Database) -> None:
    def insert(tx: Any, i: int) -> int:
        tx.execute("INSERT INTO counters (broadcaster_id, name, value, updated_at) VALUES ('x', ?, ?, 0)", (f"c{i}", i))
        return i

    await db.write(
        lambda tx: tx.execute(
            "INSERT INTO broadcasters (id, login, display_name, created_at, updated_at) VALUES ('x','l','d',0,0)"
        )
    )
    batches_before = db.batches
    results = await asyncio.gather(*(db.write(insert, i) for i in range(500)))
    assert results == list(range(500))
    assert db.batches - batches_before < 50  # many jobs per COMMIT
    assert await db.read(lambda tx: tx.value("SELECT count(*) FROM counters")) == 500


async def test_a_flood_of_deliveries_is_split_into_capped_batches_in_arrival_order(db: Database) -> None:
    from twi_overlay.pacing import WRITE_BATCH_MAX as MAX_BATCH
    from twi_overlay.repo.events import STORE_DELIVERY

    n = 100
    batches = db.batches
    stored = await asyncio.gather(*(db.insert_unique(STORE_DELIVERY, delivery_row(f"m{i:04d}")) for i in range(n)))
    assert stored == [True] * n
    # All n arrive in one loop iteration; no batch takes more than MAX_BATCH of them, so the loop has
    # the rest to answer and read while one batch commits (no convoy of every connection).
    assert db.batches - batches == -(-n // MAX_BATCH) >= 3
    ids = await db.read(lambda tx: [r[0] for r in tx.all("SELECT message_id FROM event_raw ORDER BY id")])
    assert ids == [f"m{i:04d}" for i in range(n)]


async def test_deliveries_are_answered_before_the_work_that_shares_their_batch(db: Database) -> None:
    import threading

    from twi_overlay.repo.events import STORE_DELIVERY

    release = threading.Event()

    def slow(tx: Any) -> str:
        release.wait(5)
        return "processed"

    try:
        work = asyncio.ensure_future(db.write(slow))
        acks = [asyncio.ensure_future(db.insert_unique(STORE_DELIVERY, delivery_row(k))) for k in "pq"]
        assert await asyncio.wait_for(asyncio.gather(*acks), 2) == [True, True]
        assert not work.done()
    finally:
        release.set()
    assert await work == "processed"
