"""OAuth grants: stored, read back, usable ones listed; tokens never in a repr."""

from __future__ import annotations

from tests.conftest import add_broadcaster
from twi_overlay import repo
from twi_overlay.store.database import Database


async def test_store_get_and_usable(db: Database) -> None:
    await db.write(add_broadcaster)
    assert (await db.read(repo.tokens.get, "1337")).access_token is None  # type: ignore[union-attr]
    await db.write(repo.tokens.store, "1337", "the-access", "the-refresh", 1234.5, ("a:b", "c:d"))
    grant = await db.read(repo.tokens.get, "1337")
    assert grant is not None
    assert (grant.access_token, grant.refresh_token, grant.expires_at) == ("the-access", "the-refresh", 1234.5)
    assert grant.scopes == ("a:b", "c:d") and grant.needs_reconsent is False
    assert "the-access" not in repr(grant) and "the-refresh" not in repr(grant)
    assert await db.read(repo.tokens.usable) == [("1337", "the-access")]
    await db.write(repo.broadcasters.set_needs_reconsent, "1337", True)
    assert await db.read(repo.tokens.usable) == []
