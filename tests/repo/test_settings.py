"""Settings documents: inserted once at version 1, replaced only at the version read."""

from __future__ import annotations

from tests.conftest import add_broadcaster
from twi_overlay import repo
from twi_overlay.store.database import Database


async def test_optimistic_update(db: Database) -> None:
    await db.write(add_broadcaster)  # stores the defaults as version 1
    stored = await db.read(repo.settings.get, "1337")
    assert stored is not None and stored.version == 1
    await db.write(repo.settings.insert, "1337", {"other": True})  # a second insert changes nothing
    assert (await db.read(repo.settings.get, "1337")) == stored
    assert await db.write(repo.settings.update, "1337", 1, {"queue": {"open": False}}) is True
    assert await db.write(repo.settings.update, "1337", 1, {"queue": {"open": True}}) is False  # stale version
    now = await db.read(repo.settings.get, "1337")
    assert now is not None and (now.version, now.doc) == (2, {"queue": {"open": False}})
