"""The database door: reads on their own connection never wait for writes."""

from __future__ import annotations

import asyncio
from typing import Any

from twi_overlay.store.database import Database


async def test_reads_do_not_wait_for_a_write_transaction(db: Database) -> None:
    import threading

    release = threading.Event()

    def slow_write(tx: Any) -> None:
        tx.execute(
            "INSERT INTO broadcasters (id, login, display_name, created_at, updated_at) VALUES ('slow','l','d',0,0)"
        )
        release.wait(5)

    pending = asyncio.ensure_future(db.write(slow_write))
    await asyncio.sleep(0.05)
    # The writer holds an open write transaction; a read still answers (and does not see it yet).
    assert await asyncio.wait_for(db.read(lambda tx: tx.value("SELECT count(*) FROM broadcasters")), 2) == 0
    release.set()
    await pending
    assert await db.read(lambda tx: tx.value("SELECT count(*) FROM broadcasters")) == 1
