"""The checkpoint policy: a WAL that PASSIVE passes cannot catch up with is restarted; never waiting on readers."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.store.helpers import delivery_row, fill_wal, wal_bytes
from twi_overlay.repo.events import STORE_DELIVERY
from twi_overlay.store import database, wal
from twi_overlay.store.database import Database
from twi_overlay.store.migrate import migrate


async def test_the_writer_restarts_a_wal_that_passive_checkpoints_cannot_catch_up_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def never_catches_up(conn: object) -> tuple[int, int, int]:
        return 0, 10**6, 0

    # A PASSIVE checkpointer that never catches up (as under a steady stream of writes).
    monkeypatch.setattr(wal, "passive_checkpoint", never_catches_up)
    monkeypatch.setattr(wal, "CHECKPOINT_EVERY_SECS", 3600)  # the test runs the passes itself
    path = str(tmp_path / "app.db")
    migrate(path)
    db = Database(path)
    await db.open()
    try:
        await fill_wal(db, 1000)  # ~4 MB of WAL
        high_water = wal_bytes(db)
        assert high_water > 2 * 2**20
        await db.checkpoint_pass()  # what the checkpointer task does every second
        assert db.wal_restarts == 1
        await fill_wal(db, 500)  # the next write starts the WAL over from its first frame ...
        _busy, frames, _done = await db.checkpoint("PASSIVE")
        assert 0 < frames < 1000  # ... so it holds only what came after the restart
        assert wal_bytes(db) == high_water  # written over in place: neither grown nor cut back
    finally:
        await db.close()


async def test_a_checkpoint_never_holds_the_writer_behind_an_old_reader(db: Database) -> None:
    await fill_wal(db, 50)
    reader = sqlite3.connect(db.path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM event_raw").fetchone()  # holds a snapshot, like a backup
        await fill_wal(db, 100)
        started = asyncio.get_running_loop().time()
        busy, _frames, _done = await db.checkpoint("TRUNCATE")
        assert busy == 1
        assert asyncio.get_running_loop().time() - started < 1.0  # busy_timeout is 5 s
        assert await db.write(lambda tx: tx.value("SELECT 1")) == 1
        reader.execute("COMMIT")
        assert (await db.checkpoint("TRUNCATE"))[0] == 0
        assert wal_bytes(db) == 0
    finally:
        reader.close()


async def test_restart_waits_until_passive_passes_have_copied_nearly_everything(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    restarts: list[str] = []

    async def on_writer(writer: object, mode: str = "TRUNCATE") -> tuple[int, int, int]:
        restarts.append(mode)
        return 0, 0, 0

    monkeypatch.setattr(wal, "checkpoint_on_writer", on_writer)
    # The writer outruns every pass (WAL long, much left to copy): no RESTART yet, the writer is left alone.
    long = wal.WAL_RESTART_FRAMES + 800

    def passes_reporting(*reports: tuple[int, int, int]) -> object:
        left = list(reports)

        async def passive(conn: object) -> tuple[int, int, int]:
            return left.pop(0) if len(left) > 1 else left[0]  # the last one again: the flush's passes

        return passive

    monkeypatch.setattr(wal, "passive_checkpoint", passes_reporting(*[(0, long, 1000)] * 10))
    await db.checkpoint_pass()
    assert restarts == []
    # A second pass leaves little: now the RESTART is cheap and happens.
    monkeypatch.setattr(wal, "passive_checkpoint", passes_reporting((0, long, 1000), (0, long + 100, long)))
    await db.checkpoint_pass()
    assert restarts == ["RESTART"]


def _record_fsyncs(monkeypatch: pytest.MonkeyPatch, db: Database, log: list[str]) -> None:
    """Which of the store's files each of our own fsyncs flushed (SQLite's own syncs are in C, unseen)."""
    names = {Path(db.path).name: "db", Path(db.path).name + "-wal": "wal"}
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        real_fsync(fd)
        log.append("fsync " + names.get(Path(os.readlink(f"/proc/self/fd/{fd}")).name, "other"))

    monkeypatch.setattr(os, "fsync", fsync)


async def test_the_checkpointer_syncs_the_database_file_before_the_writer_restarts_or_truncates(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A partial PASSIVE pass leaves what it copied unsynced, and the RESTART's fsync used to flush all of
    it on the writer's thread (80-280 ms in bench/checkpoint.py): the checkpointer's thread does it first."""
    log: list[str] = []
    _record_fsyncs(monkeypatch, db, log)
    on_writer = wal.checkpoint_on_writer

    async def on_writers_thread(writer: object, mode: str = "TRUNCATE") -> tuple[int, int, int]:
        log.append(mode)
        return await on_writer(writer, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(wal, "checkpoint_on_writer", on_writers_thread)
    monkeypatch.setattr(database, "checkpoint_on_writer", on_writers_thread)
    monkeypatch.setattr(wal, "WAL_RESTART_FRAMES", 100)
    await fill_wal(db, 300)
    await db.checkpoint_pass()
    assert log == ["fsync db", "RESTART"] and db.wal_restarts == 1
    log.clear()
    await fill_wal(db, 50)
    assert (await db.checkpoint("TRUNCATE"))[0] == 0  # the TTL job's checkpoint
    assert log == ["fsync db", "TRUNCATE"] and wal_bytes(db) == 0


async def _deliveries(db: Database, prefix: str, n: int) -> None:
    await asyncio.gather(*(db.insert_unique(STORE_DELIVERY, delivery_row(f"{prefix}{i}")) for i in range(n)))


def _read_and_close_elsewhere(path: str) -> int:
    """Another process opens the database, reads and closes: SQLite's last connection to close
    checkpoints and deletes the WAL, unless another process still holds its lock on the file."""
    code = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
        " print(c.execute('SELECT count(*) FROM event_raw').fetchone()[0]); c.close()"
    )
    done = subprocess.run([sys.executable, "-c", code, path], check=True, capture_output=True, text=True)
    return int(done.stdout)


async def test_the_flush_never_drops_the_locks_that_keep_the_wal_alive(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing any descriptor of a file drops every POSIX lock the process holds on it, SQLite's
    included. A flush that opened and closed the database file left the server's connections without
    their lock: the next process to close its own connection took itself for the last one and
    deleted the WAL under the running server (a bench run then read a malformed database)."""
    monkeypatch.setattr(wal, "WAL_RESTART_FRAMES", 100)
    await fill_wal(db, 300)
    await db.checkpoint_pass()  # RESTART, with the flush before it
    await db.checkpoint("TRUNCATE")  # the TTL job's, with the flush before it
    await _deliveries(db, "late", 50)  # in the WAL only
    assert _read_and_close_elsewhere(db.path) == 350
    assert Path(db.path + "-wal").exists(), "another process deleted the running server's WAL"
    await _deliveries(db, "later", 60)
    assert await db.read(lambda tx: tx.value("SELECT count(*) FROM event_raw")) == 410
    assert _read_and_close_elsewhere(db.path) == 410
    assert await db.read(lambda tx: tx.value("PRAGMA integrity_check")) == "ok"
