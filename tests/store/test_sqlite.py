"""The PRAGMAs every connection gets."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from twi_overlay.store import sqlite
from twi_overlay.store.database import Database
from twi_overlay.store.migrate import migrate
from twi_overlay.store.sqlite import connect as connect_sync


def _pragmas(conn: sqlite3.Connection) -> tuple[Any, ...]:
    return tuple(
        conn.execute(f"PRAGMA {p}").fetchone()[0]
        for p in ("foreign_keys", "journal_mode", "synchronous", "busy_timeout")
    )


async def test_pragmas_on_every_connection(tmp_path: Path) -> None:
    path = str(tmp_path / "app.db")
    migrate(path)
    expected = (1, "wal", 1, 5000)  # synchronous=NORMAL is 1
    assert _pragmas(connect_sync(path)) == expected
    db = Database(path)
    await db.open()
    try:
        assert await db.read(lambda tx: _pragmas(tx.conn)) == expected
        assert await db.write(lambda tx: _pragmas(tx.conn)) == expected
    finally:
        await db.close()


def test_a_new_database_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new" / "app.db"
    connect_sync(str(path)).close()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    backup = tmp_path / "copy.db"
    assert sqlite.backup(str(path), str(backup)) == "ok"
    assert oct(backup.stat().st_mode & 0o777) == "0o600"


def test_transient_errors_are_told_from_lasting_ones(tmp_path: Path) -> None:
    path = str(tmp_path / "t.db")
    holder, waiter = connect_sync(path), connect_sync(path)
    waiter.execute("PRAGMA busy_timeout=0")
    holder.execute("CREATE TABLE t (x UNIQUE)")
    holder.execute("BEGIN IMMEDIATE")
    try:
        waiter.execute("BEGIN IMMEDIATE")
        raise AssertionError("the lock was not held")
    except sqlite3.OperationalError as busy:
        assert sqlite.transient(busy)  # database is locked: try again later
    holder.execute("INSERT INTO t VALUES (1)")
    try:
        holder.execute("INSERT INTO t VALUES (1)")
        raise AssertionError("the constraint did not hold")
    except sqlite3.IntegrityError as lasting:
        assert not sqlite.transient(lasting)  # the same work fails the same way every time
    assert not sqlite.transient(ValueError("not a database error"))
    holder.execute("COMMIT")
