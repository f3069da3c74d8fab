"""When the WAL is copied back into the database file, and who does it.

The writer never checkpoints inside a COMMIT (SQLite's default after every 1000 WAL pages): that
copy-and-fsync stalled every ACK of its batch by several ms. A checkpointer connection in its own
thread runs PASSIVE checkpoints once a second instead, which neither block the writer nor hold the GIL.

Under a steady stream of writes a PASSIVE checkpoint never catches up with the writer, so SQLite never
starts the WAL over and the file grows without bound (1.7 GB after a 16 s bench burst). When a PASSIVE
pass leaves the WAL this long, the writer itself runs a RESTART checkpoint between two batches (the
PASSIVE passes just copied nearly everything, so the pause is short), and the next write starts the WAL
over from its first frame. The file keeps its size (so it stays bounded by the threshold) until the TTL
job's TRUNCATE checkpoint. There is no journal_size_limit: cutting the file back at each restart put an
ftruncate, and on a disk mounted with `discard` a synchronous discard of the freed blocks, in the
writer thread; that batch of ACKs took 25-29 ms (an off-CPU trace of the writer).

A checkpoint that copies the whole WAL ends with an fsync of the database file; a partial one (every
PASSIVE pass under load) does not, so the pages it copied stay dirty in the page cache until then. The
writer's RESTART therefore flushed everything the passes had copied since the last one (26-72 ms in
`bench/checkpoint.py`), with every ACK of the moment waiting. So before a RESTART or a TRUNCATE runs on
the writer, the checkpointer settles the files on its own thread (`Checkpointer.settle`): a PASSIVE
pass, an fsync of the database file (`FileSync`), and a last PASSIVE pass for what came in meanwhile;
the writer's checkpoint then takes 0.1-1.8 ms.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
from collections.abc import Callable

import aiosqlite

from twi_overlay.aio import cancel_and_wait
from twi_overlay.store.sqlite import BUSY_TIMEOUT_MS, PRAGMAS
from twi_overlay.store.thread import ConnectionThread

log = logging.getLogger(__name__)
CHECKPOINT_EVERY_SECS = 1.0
WAL_RESTART_FRAMES = 32768  # 128 MiB: only a sustained flood gets here; ordinary load resets the WAL itself
PASSIVE_PASSES_BEFORE_RESTART = 4
RESTART_MAX_LEFT_FRAMES = 256
MODES = ("PASSIVE", "FULL", "RESTART", "TRUNCATE")
Checkpoint = tuple[int, int, int]  # (busy, frames in the WAL, frames checkpointed), as SQLite reports them


def wal_checkpoint(conn: sqlite3.Connection, mode: str) -> Checkpoint:
    if mode not in MODES:
        raise ValueError(f"unknown checkpoint mode {mode!r}")
    busy, log_frames, checkpointed = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return busy, log_frames, checkpointed


def _without_waiting(conn: sqlite3.Connection, mode: str) -> Checkpoint:
    conn.execute("PRAGMA busy_timeout=0")
    try:
        return wal_checkpoint(conn, mode)
    finally:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


async def checkpoint_on_writer(writer: ConnectionThread, mode: str = "TRUNCATE") -> Checkpoint:
    """PRAGMA wal_checkpoint(mode) on the writer's thread, between two write batches. It never waits:
    RESTART and TRUNCATE would otherwise wait up to busy_timeout for a reader on an old snapshot (a
    backup, an operator's sqlite3 shell), and every ACK waits behind the writer. A checkpoint that could
    not finish reports busy=1 and the next one tries again."""
    if mode not in MODES:
        raise ValueError(f"unknown checkpoint mode {mode!r}")
    return await writer.call(_without_waiting, mode)


class FileSync:
    """fsync of the database file, through a descriptor opened once and closed only after every
    connection of this process to the database is closed.

    Closing any descriptor of a file drops every POSIX lock the process holds on that file, SQLite's
    included. A descriptor opened and closed for each flush left the server's connections without
    their lock on the database file; the next process to close a connection of its own (a backup, an
    operator's sqlite3 shell, a bench) took itself for the last one, checkpointed and deleted the WAL
    under the running server, and the database read as malformed.
    """

    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()  # a flush still running in its thread finishes before close()

    def flush(self) -> None:
        """In a worker thread: the database file's dirty pages to the disk."""
        with self._lock:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            os.fsync(self._fd)

    def close(self) -> None:
        """Only once this process has no connection to the database left."""
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)


async def passive_checkpoint(conn: aiosqlite.Connection) -> Checkpoint:
    async with conn.execute("PRAGMA wal_checkpoint(PASSIVE)") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


class Checkpointer:
    """The PASSIVE checkpoints (aiosqlite: one statement a call is all this connection needs) and the
    policy that decides when the writer runs a RESTART."""

    def __init__(self, path: str, writer: ConnectionThread, jobs_done: Callable[[], int], files: FileSync):
        self.path = path
        self.writer = writer
        self.files = files
        self.jobs_done = jobs_done
        self.restarts = 0
        self._conn: aiosqlite.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._conn = await aiosqlite.connect(self.path, isolation_level=None)
        for pragma in PRAGMAS:
            await self._conn.execute(pragma)
        self._task = asyncio.create_task(self._loop(), name="db-checkpointer")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _loop(self) -> None:
        seen = -1
        while True:
            await asyncio.sleep(CHECKPOINT_EVERY_SECS)
            if self.jobs_done() == seen:
                continue
            seen = self.jobs_done()
            try:
                await self.run_pass()
            except Exception:  # the next second tries again; a checkpoint must never stop for good
                log.exception("checkpoint failed")

    async def run_pass(self) -> None:
        """One PASSIVE checkpoint. If the WAL is still long after it, more PASSIVE passes (each copies
        what was written during the last) until little is left, then a RESTART on the writer's thread:
        with almost nothing left to copy and sync, ACKs barely notice."""
        if self._conn is None:
            raise sqlite3.ProgrammingError("the checkpointer is stopped")
        passes = 0
        while True:
            _busy, wal_frames, done = await passive_checkpoint(self._conn)
            if wal_frames < WAL_RESTART_FRAMES:
                return
            passes += 1
            if wal_frames - done <= RESTART_MAX_LEFT_FRAMES or passes > PASSIVE_PASSES_BEFORE_RESTART:
                break
        if wal_frames - done > RESTART_MAX_LEFT_FRAMES and wal_frames < 4 * WAL_RESTART_FRAMES:
            return  # the writer outruns the copying: try again next second (a hard limit stands)
        await self.settle()
        busy, _frames, _done = await checkpoint_on_writer(self.writer, "RESTART")
        self.restarts += not busy

    async def settle(self) -> None:
        """Off the writer's thread, what its RESTART or TRUNCATE would otherwise copy and sync: a PASSIVE
        pass, an fsync of the database file, and one more PASSIVE pass (it syncs the WAL first) for what
        came in during the fsync (tens of ms under load; at a flood's rate, thousands of frames). The
        writer's own checkpoint then copies what came in since, and its fsync finds only the last
        pass's pages dirty; when that pass copied everything, it synced them itself."""
        if self._conn is None:
            raise sqlite3.ProgrammingError("the checkpointer is stopped")
        await passive_checkpoint(self._conn)
        await asyncio.to_thread(self.files.flush)
        await passive_checkpoint(self._conn)
