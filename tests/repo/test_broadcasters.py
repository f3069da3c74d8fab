"""Broadcasters, and who has a Twitch grant we may use (the broadcasters_with_grant view)."""

from __future__ import annotations

from tests.conftest import add_broadcaster
from twi_overlay import repo
from twi_overlay.repo.broadcasters import Broadcaster
from twi_overlay.store.database import Database


async def test_upsert_get_and_live(db: Database) -> None:
    assert await db.read(repo.broadcasters.get, "1337") is None
    await db.write(add_broadcaster)
    await db.write(repo.broadcasters.upsert, "1337", "renamed", "Renamed")
    await db.write(repo.broadcasters.set_live, "1337", True)
    assert await db.read(repo.broadcasters.get, "1337") == Broadcaster("1337", "renamed", "Renamed", True, False)
    assert await db.read(repo.broadcasters.exists, "1337") and not await db.read(repo.broadcasters.exists, "1")


async def test_with_grant_means_a_token_and_no_pending_reconsent(db: Database) -> None:
    for bid in ("a", "b", "c"):
        await db.write(add_broadcaster, bid, f"user_{bid}")
    await db.write(repo.tokens.store, "a", "access-a", "refresh-a", 0.0, ("s",))
    await db.write(repo.tokens.store, "b", "access-b", "refresh-b", 0.0, ("s",))
    await db.write(repo.broadcasters.set_needs_reconsent, "b", True)
    assert await db.read(repo.broadcasters.with_grant) == ["a"]  # c never connected, b must sign in again
    await db.write(repo.tokens.store, "b", "access-b2", "refresh-b2", 0.0, ("s",))  # signing in clears it
    assert await db.read(repo.broadcasters.with_grant) == ["a", "b"]


async def test_a_revocation_flags_only_a_grant_stored_before_it(db: Database) -> None:
    import time

    await db.write(add_broadcaster)
    before = time.time() - 1
    await db.write(repo.tokens.store, "1337", "access", "refresh", 0.0, ("s",))
    assert await db.write(repo.broadcasters.revoke_grant, "1337", before) is False  # about an older grant
    assert await db.read(repo.broadcasters.with_grant) == ["1337"]
    assert await db.write(repo.broadcasters.revoke_grant, "1337", time.time() + 1) is True
    assert await db.read(repo.broadcasters.with_grant) == []
    assert await db.read(repo.broadcasters.with_any_grant) == ["1337"]  # its subscriptions are kept
