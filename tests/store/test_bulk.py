"""Bulk rows (webhook deliveries): one statement per batch, each key stored once."""

from __future__ import annotations

import asyncio

from tests.store.helpers import delivery_row
from twi_overlay.store.database import Database


async def test_bulk_rows_share_one_statement_and_each_key_is_stored_once(db: Database) -> None:
    from twi_overlay.repo.events import STORE_DELIVERY

    await db.insert_unique(STORE_DELIVERY, delivery_row("old"))
    body = '{"text": "ｷﾀ━(ﾟ∀ﾟ)━! \\"quoted\\" \\u0000 \\\\ end"}'
    calls = [
        db.insert_unique(STORE_DELIVERY, delivery_row("a", body)),
        db.insert_unique(STORE_DELIVERY, delivery_row("old")),  # stored by an earlier batch
        db.insert_unique(STORE_DELIVERY, delivery_row("b")),
        db.insert_unique(STORE_DELIVERY, delivery_row("a")),  # twice in this batch
        db.write(lambda tx: tx.value("SELECT 7")),  # an ordinary job in the same batch
        db.insert_unique(STORE_DELIVERY, delivery_row("c")),
    ]
    batches = db.batches
    assert await asyncio.gather(*calls) == [True, False, True, False, 7, True]
    assert db.batches == batches + 2  # the deliveries in one statement, then the ordinary job
    rows = await db.read(
        lambda tx: [tuple(r) for r in tx.all("SELECT message_id, typeof(payload), payload, received_at FROM event_raw")]
    )
    assert [r[0] for r in rows] == ["old", "a", "b", "c"]
    assert {r[1] for r in rows} == {"blob"}
    assert rows[1][2] == body.encode() and rows[1][3] == 1700000000.123456


async def test_bulk_rows_all_stored_already(db: Database) -> None:
    from twi_overlay.repo.events import STORE_DELIVERY

    assert await asyncio.gather(*(db.insert_unique(STORE_DELIVERY, delivery_row(k)) for k in "xyz")) == [True] * 3
    assert await asyncio.gather(*(db.insert_unique(STORE_DELIVERY, delivery_row(k)) for k in "zyx")) == [False] * 3
    assert await db.read(lambda tx: tx.value("SELECT count(*) FROM event_raw")) == 3
