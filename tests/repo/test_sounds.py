"""repo.sounds: one sound per broadcaster, found by its hash."""

from __future__ import annotations

from tests.conftest import add_broadcaster
from twi_overlay import repo
from twi_overlay.store.database import Database


async def test_a_new_sound_replaces_the_broadcasters_previous_one(db: Database) -> None:
    await db.write(add_broadcaster)
    await db.write(repo.sounds.store, "1337", "a" * 64, "audio/wav", b"RIFFone")
    assert await db.read(repo.sounds.get, "a" * 64) == ("audio/wav", b"RIFFone")
    await db.write(repo.sounds.store, "1337", "b" * 64, "audio/ogg", b"OggStwo")
    assert await db.read(repo.sounds.get, "a" * 64) is None
    assert await db.read(repo.sounds.get, "b" * 64) == ("audio/ogg", b"OggStwo")
    await db.write(repo.sounds.store, "1337", "b" * 64, "audio/ogg", b"OggStwo")  # the same file again: kept
    assert await db.read(repo.sounds.get, "b" * 64) == ("audio/ogg", b"OggStwo")
