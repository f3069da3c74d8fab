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
