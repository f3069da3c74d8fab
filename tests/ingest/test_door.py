"""The door a WebSocket notification enters by: stored like a webhook delivery, a known message id is a
duplicate, and a database that fails is retried before the event is left to the catch-up."""

from __future__ import annotations

import sqlite3
from typing import Any

from tests.helpers import redemption_body
from twi_overlay.ingest.door import STORE_TRIES, Door
from twi_overlay.ops.tap import Tap
from twi_overlay.pipeline import Processor
from twi_overlay.repo import events
from twi_overlay.store.database import Database


class Flaky:
    """The real database, whose first `failures` writes raise what SQLite raises on a locked file."""

    def __init__(self, db: Database, failures: int):
        self.db = db
        self.failures = failures

    async def insert_unique(self, *args: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise sqlite3.OperationalError("database is locked")
        return await self.db.insert_unique(*args)


async def test_a_notification_is_stored_once_and_wakes_the_processor(db: Database) -> None:
    lost: list[int] = []
    processor = Processor(db, Tap())
    door = Door(db, Tap(), processor, lambda: lost.append(1))
    body = redemption_body()
    assert await door.accept("m-1", "notification", "channel.x", body, "conduit") is True
    assert processor.last_ingress > 0
    assert await door.accept("m-1", "notification", "channel.x", body, "conduit") is False  # Twitch again
    [row] = await db.read(events.pending, 0, 10)
    assert (row.message_id, row.message_type, row.broadcaster_id) == ("m-1", "notification", "1337")
    assert lost == []


async def test_a_failing_database_is_retried_then_the_event_is_left_to_the_catch_up(db: Database) -> None:
    lost: list[int] = []
    processor = Processor(db, Tap())
    flaky = Flaky(db, 2)
    waits: list[float] = []

    async def sleep(secs: float) -> None:
        waits.append(secs)

    door = Door(flaky, Tap(), processor, lambda: lost.append(1), sleep)  # type: ignore[arg-type]
    assert await door.accept("m-2", "notification", "channel.x", redemption_body(), "conduit") is True
    assert lost == [] and len(await db.read(events.pending, 0, 10)) == 1 and waits == [0.05, 0.1]
    flaky.failures = STORE_TRIES  # down for longer than the door waits
    assert await door.accept("m-3", "notification", "channel.x", redemption_body(), "conduit") is False
    assert lost == [1] and len(await db.read(events.pending, 0, 10)) == 1
    assert sum(waits[2:]) > 5  # seconds the socket waited for the database before giving up
