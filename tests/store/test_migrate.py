"""Migrations: applied once, in order, on an empty file, WAL set first."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from twi_overlay.store.migrate import migrate

TABLES = {
    "broadcasters",
    "settings",
    "rewards",
    "queue_entries",
    "counters",
    "event_raw",
    "command_log",
    "helix_jobs",
    "eventsub_subscriptions",
    "overlay_keys",
    "sessions",
}


def test_migrations_apply_on_an_empty_file_and_are_idempotent(tmp_path: Path) -> None:
    path = str(tmp_path / "sub" / "app.db")
    assert migrate(path) == [
        "0001.initial",
        "0002.event-raw-lean-indexes",
        "0003.broadcasters-with-grant",
        "0004.grant-stored-at",
        "0005.overlay-key-nonce",
        "0006.overlay-sounds",
        "0007.channel-moderators",
        "0008.moderator-sessions",
        "0009.chat",
        "0010.chat-bots",
    ]
    assert migrate(path) == []
    conn = sqlite3.connect(path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert TABLES <= names
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent, set before yoyo
    conn.close()
