"""Sessions and overlay keys by hash: an expired session is not found; a key has one owner."""

from __future__ import annotations

import time

from tests.conftest import add_broadcaster
from twi_overlay import repo
from twi_overlay.store.database import Database


async def test_sessions_and_overlay_keys(db: Database) -> None:
    await db.write(add_broadcaster)
    await db.write(repo.auth.insert_session, "h1", "1337", "csrf-1", time.time() + 60)
    await db.write(repo.auth.insert_session, "h2", "1337", "csrf-2", time.time() - 1)
    session = await db.read(repo.auth.get_session, "h1")
    assert session is not None and (session.broadcaster_id, session.csrf_token) == ("1337", "csrf-1")
    assert await db.read(repo.auth.get_session, "h2") is None  # expired
    await db.write(repo.auth.delete_session, "h1")
    assert await db.read(repo.auth.get_session, "h1") is None
    await db.write(repo.auth.set_overlay_key, "1337", "hash-a")
    await db.write(repo.auth.set_overlay_key, "1337", "hash-b")  # rotation replaces the key
    assert await db.read(repo.auth.overlay_key_owner, "hash-a") is None
    assert await db.read(repo.auth.overlay_key_owner, "hash-b") == "1337"
