"""Counters: add from nothing, set, list by name."""

from __future__ import annotations

from tests.conftest import add_broadcaster
from twi_overlay import repo
from twi_overlay.store.database import Database


async def test_add_and_set(db: Database) -> None:
    await db.write(add_broadcaster)
    assert await db.write(repo.counters.add, "1337", "hugs", 2) == 2
    assert await db.write(repo.counters.add, "1337", "hugs", -5) == -3
    assert await db.write(repo.counters.set_value, "1337", "wins", 7) == 7
    assert await db.read(repo.counters.values, "1337") == {"hugs": -3, "wins": 7}
