"""SQLite access: PRAGMAs on every connection, one batching writer, a separate reader.

Write discipline (SPEC §9, runbook §11): every write is a job `fn(tx, *args)` run synchronously in the
writer connection's thread. The writer task takes whatever jobs are waiting (up to MAX_BATCH), runs
them in one `BEGIN IMMEDIATE` transaction, each inside its own SAVEPOINT (a failing job rolls back
alone), commits, and only then resolves the callers' futures and publishes the events the jobs
emitted, in job order. One thread hop and one commit per batch instead of per statement is what
makes persist-then-ACK cheap under load. Reads use their own connection and never wait for writes
(WAL).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_BATCH = 256
PRAGMAS = (
    "PRAGMA foreign_keys=ON",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=5000",
)


def apply_pragmas(conn: sqlite3.Connection) -> None:
    for pragma in PRAGMAS:
        conn.execute(pragma)


def connect_sync(path: str) -> sqlite3.Connection:
    """A plain connection with our PRAGMAs (CLI, migrations, backup)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    apply_pragmas(conn)
    return conn


@dataclass
class Tx:
    """What a write job sees: the connection, plus a place to put events and post-commit callbacks."""

    conn: sqlite3.Connection
    events: list[Any] = field(default_factory=list)
    after_commit: list[Callable[[], Any]] = field(default_factory=list)

    def emit(self, event: Any) -> None:
        self.events.append(event)

    def execute(self, query: str, params: Any = ()) -> sqlite3.Cursor:
        return self.conn.execute(query, params)

    def one(self, query: str, params: Any = ()) -> sqlite3.Row | None:
        return self.conn.execute(query, params).fetchone()

    def all(self, query: str, params: Any = ()) -> list[sqlite3.Row]:
        return self.conn.execute(query, params).fetchall()

    def value(self, query: str, params: Any = ()) -> Any:
        row = self.conn.execute(query, params).fetchone()
        return None if row is None else row[0]


@dataclass
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]
    tx: Tx | None = None
    ok: bool = False
    result: Any = None
    error: BaseException | None = None


class DatabaseClosed(RuntimeError):
    pass


async def _in_thread(conn: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    # aiosqlite runs every call in the connection's own thread; `_execute` is how it schedules a
    # function there. We hand it whole transactions so a batch costs one thread hop.
    return await conn._execute(fn, *args)  # noqa: SLF001


class Database:
    def __init__(self, path: str, on_events: Callable[[list[Any]], None] | None = None):
        self.path = path
        self.on_events = on_events
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0
        self.jobs = 0

    async def open(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._writer = await aiosqlite.connect(self.path, isolation_level=None)
        self._reader = await aiosqlite.connect(self.path, isolation_level=None)
        for conn in (self._writer, self._reader):
            conn.row_factory = sqlite3.Row
            await _in_thread(conn, apply_pragmas, conn._conn)  # noqa: SLF001
        self._task = asyncio.create_task(self._write_loop(), name="db-writer")

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(DatabaseClosed("database is closing"))
        for conn in (self._writer, self._reader):
            if conn is not None:
                await conn.close()
        self._writer = self._reader = None

    # -- writes ---------------------------------------------------------------------------------
    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(tx, *args)` in a write transaction; returns after COMMIT."""
        if self._closed:
            raise DatabaseClosed("database is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(fn, args, future))
        return await future

    def _run_batch(self, conn: sqlite3.Connection, jobs: list[_Job]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for job in jobs:
                job.tx = Tx(conn)
                conn.execute("SAVEPOINT job")
                try:
                    job.result = job.fn(job.tx, *job.args)
                    job.ok = True
                except Exception as exc:
                    job.error = exc
                    conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    async def _write_loop(self) -> None:
        assert self._writer is not None
        writer = self._writer
        while True:
            jobs = [await self._queue.get()]
            while len(jobs) < MAX_BATCH and not self._queue.empty():
                jobs.append(self._queue.get_nowait())
            try:
                await _in_thread(writer, self._run_batch, writer._conn, jobs)  # noqa: SLF001
            except asyncio.CancelledError:
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(DatabaseClosed("database closed during write"))
                raise
            except Exception as exc:
                log.exception("write batch failed")
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            self.batches += 1
            self.jobs += len(jobs)
            for job in jobs:
                if job.ok:
                    assert job.tx is not None
                    if job.tx.events and self.on_events is not None:
                        try:
                            self.on_events(job.tx.events)
                        except Exception:
                            log.exception("event publishing failed")
                    for callback in job.tx.after_commit:
                        try:
                            callback()
                        except Exception:
                            log.exception("after-commit callback failed")
                    if not job.future.done():
                        job.future.set_result(job.result)
                elif not job.future.done():
                    assert job.error is not None
                    job.future.set_exception(job.error)

    # -- reads ----------------------------------------------------------------------------------
    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(tx, *args)` in a read transaction on the reader connection (never waits on writes)."""
        if self._closed or self._reader is None:
            raise DatabaseClosed("database is closed")

        def run(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN")
            try:
                return fn(Tx(conn), *args)
            finally:
                conn.execute("COMMIT")

        return await _in_thread(self._reader, run, self._reader._conn)  # noqa: SLF001

    async def fetchall(self, query: str, params: Iterable[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return await self.read(lambda tx: tx.all(query, params))

    async def checkpoint(self) -> tuple[int, int, int]:
        """PRAGMA wal_checkpoint(TRUNCATE) on the writer thread, between two write batches."""
        if self._writer is None:
            raise DatabaseClosed("database is closed")

        def run(conn: sqlite3.Connection) -> tuple[int, int, int]:
            busy, log_frames, checkpointed = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return busy, log_frames, checkpointed

        return await _in_thread(self._writer, run, self._writer._conn)  # noqa: SLF001


def now() -> float:
    return time.time()
