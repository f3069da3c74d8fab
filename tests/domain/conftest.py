"""A migrated database with one broadcaster, for the command tests."""

from __future__ import annotations

import pytest

from tests.conftest import add_broadcaster
from twi_overlay.store.database import Database


@pytest.fixture
async def d(db: Database) -> Database:
    await db.write(add_broadcaster)
    return db
