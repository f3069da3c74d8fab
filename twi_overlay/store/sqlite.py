"""Plain SQLite connections with the PRAGMAs every connection gets (docs/architecture.md, "Data")."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from twi_overlay.store.tx import Tx

BUSY_TIMEOUT_MS = 5000
PRAGMAS = (
    "PRAGMA foreign_keys=ON",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    # SQLite's temporary files (statement journals, IN-list and sorter tables) stay in memory: on disk
    # a write batch created and unlinked one, two system calls on every ACK's path.
    "PRAGMA temp_store=MEMORY",
)


def apply_pragmas(conn: sqlite3.Connection) -> None:
    for pragma in PRAGMAS:
        conn.execute(pragma)


def connect(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), rows by name, our PRAGMAs."""
    private_file(path)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    apply_pragmas(conn)
    return conn


# Errors that say "not now" rather than "never": the file is locked by another process (a deploy's
# `migrate`, a backup), the disk is full or failing, memory ran out. Retrying the same work later can
# succeed; anything else (a constraint, a bug) will fail the same way again.
TRANSIENT_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
    }
)


def transient(exc: BaseException) -> bool:
    """Whether a database error may go away if the same work is tried again later."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF in TRANSIENT_CODES


def journal_mode(tx: Tx) -> str:
    return str(tx.value("PRAGMA journal_mode"))


def private_file(path: str) -> None:
    """The database holds OAuth tokens: create it (and its directory) readable by its owner only.
    SQLite creates the -wal and -shm files with the database file's permissions."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    if not file.exists():
        os.close(os.open(file, os.O_WRONLY | os.O_CREAT, stat.S_IRUSR | stat.S_IWUSR))


def backup(source: str, dest: str) -> str:
    """An online copy of the database through SQLite's backup API (safe while the app writes), created
    readable by its owner only; returns the copy's `integrity_check` ("ok" when sound)."""
    private_file(dest)
    src = connect(source)
    out = sqlite3.connect(dest)
    try:
        src.backup(out)
        return str(out.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        out.close()
        src.close()
