"""The unit of work: events and callbacks wait for COMMIT; a savepoint rolls back one part only."""

from __future__ import annotations

from typing import Any

import pytest

from twi_overlay.store.database import Database
from twi_overlay.store.tx import Tx


async def test_events_are_published_only_when_the_job_commits(db: Database) -> None:
    called: list[str] = []

    def good(tx: Tx) -> None:
        tx.emit("one")
        tx.after_commit.append(lambda: called.append("good"))

    def bad(tx: Tx) -> None:
        tx.emit("two")
        tx.after_commit.append(lambda: called.append("bad"))
        raise RuntimeError("refused")

    await db.write(good)
    with pytest.raises(RuntimeError):
        await db.write(bad)
    assert db.published == ["one"] and called == ["good"]  # type: ignore[attr-defined]


async def test_savepoints(db: Database) -> None:
    def job(tx: Tx) -> Any:
        tx.execute("CREATE TABLE t (x)")
        tx.execute("INSERT INTO t VALUES (1)")
        tx.savepoint("part")
        tx.execute("INSERT INTO t VALUES (2)")
        tx.rollback_to("part")
        tx.savepoint("kept")
        tx.many("INSERT INTO t VALUES (?)", [(3,), (4,)])
        tx.release("kept")
        return [r[0] for r in tx.all("SELECT x FROM t ORDER BY x")], tx.one("SELECT 9")[0], tx.value("SELECT 8")  # type: ignore[index]

    assert await db.write(job) == ([1, 3, 4], 9, 8)
