"""Rows and WAL helpers for the store tests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from twi_overlay.store.database import Database


def delivery_row(key: str, body: str = '{"n": 1}') -> list[Any]:
    return [key, "notification", "stream.online", "1337", body, 1700000000.123456]


def wal_bytes(db: Database) -> int:
    wal = Path(db.path + "-wal")
    return wal.stat().st_size if wal.exists() else 0


async def fill_wal(db: Database, n: int) -> None:
    from twi_overlay.repo.events import STORE_DELIVERY

    body = '{"pad": "' + "x" * 3000 + '"}'
    for start in range(0, n, 50):
        await asyncio.gather(
            *(db.insert_unique(STORE_DELIVERY, delivery_row(f"k{i}", body)) for i in range(start, start + 50))
        )
