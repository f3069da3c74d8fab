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
import json
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
# The writer never checkpoints inside a COMMIT (SQLite's default after every 1000 WAL pages): that
# copy-and-fsync stalled every ACK of its batch by several ms. A checkpointer connection in its own
# thread runs PASSIVE checkpoints instead, which neither block writers nor hold the GIL.
WRITER_PRAGMAS = ("PRAGMA wal_autocheckpoint=0",)
CHECKPOINT_EVERY_SECS = 1.0


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


@dataclass(frozen=True)
class UniqueInsert:
    """A row insert that many callers make at once (webhook deliveries): the writer runs all of a
    batch's rows as one `executemany`, after one SELECT that tells which keys already exist."""

    insert: str  # INSERT ... ON CONFLICT DO NOTHING, named params
    existing: str  # SELECT <key> ... WHERE <key> IN (SELECT value FROM json_each(:keys))
    key: str  # the unique param's name


@dataclass
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]
    bulk: UniqueInsert | None = None
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
        self._checkpointer: aiosqlite.Connection | None = None
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.batches = 0
        self.jobs = 0

    async def open(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._writer = await aiosqlite.connect(self.path, isolation_level=None)
        self._reader = await aiosqlite.connect(self.path, isolation_level=None)
        self._checkpointer = await aiosqlite.connect(self.path, isolation_level=None)
        for conn in (self._writer, self._reader, self._checkpointer):
            conn.row_factory = sqlite3.Row
            await _in_thread(conn, apply_pragmas, conn._conn)  # noqa: SLF001
        for pragma in WRITER_PRAGMAS:
            await self._writer.execute(pragma)
        self._task = asyncio.create_task(self._write_loop(), name="db-writer")
        self._checkpoint_task = asyncio.create_task(self._checkpoint_loop(), name="db-checkpointer")

    async def close(self) -> None:
        self._closed = True
        for task in (self._checkpoint_task, self._task):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        self._task = self._checkpoint_task = None
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(DatabaseClosed("database is closing"))
        for conn in (self._writer, self._reader, self._checkpointer):
            if conn is not None:
                await conn.close()
        self._writer = self._reader = self._checkpointer = None

    # -- writes ---------------------------------------------------------------------------------
    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(tx, *args)` in a write transaction; returns after COMMIT."""
        if self._closed:
            raise DatabaseClosed("database is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(fn, args, future))
        self._idle.clear()
        return await future

    async def insert_unique(self, spec: UniqueInsert, row: dict[str, Any]) -> bool:
        """Insert `row` unless its key exists; True when inserted. Returns after COMMIT."""
        if self._closed:
            raise DatabaseClosed("database is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(_bulk_row, (row,), future, bulk=spec))
        self._idle.clear()
        return await future

    @staticmethod
    def _run_unique_inserts(conn: sqlite3.Connection, jobs: list[_Job]) -> None:
        groups: dict[UniqueInsert, list[_Job]] = {}
        for job in jobs:
            assert job.bulk is not None
            groups.setdefault(job.bulk, []).append(job)
        for spec, group in groups.items():
            keys = [job.args[0][spec.key] for job in group]
            conn.execute("SAVEPOINT bulk")
            try:
                seen = {row[0] for row in conn.execute(spec.existing, {"keys": json.dumps(keys)})}
                rows = []
                for job, key in zip(group, keys, strict=True):
                    job.result = key not in seen
                    if job.result:
                        seen.add(key)
                        rows.append(job.args[0])
                conn.executemany(spec.insert, rows)
                for job in group:
                    job.ok = True
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK TO bulk")
                for job in group:
                    job.ok, job.error = False, exc
            conn.execute("RELEASE bulk")

    async def wait_idle(self, max_wait: float) -> None:
        """Until the writer has nothing queued (or `max_wait` passes): background work yields to ACKs."""
        if self._queue.empty() and self._idle.is_set():
            return
        try:
            await asyncio.wait_for(self._idle.wait(), max_wait)
        except TimeoutError:
            pass

    def _run_batch(self, conn: sqlite3.Connection, jobs: list[_Job]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            bulk = [job for job in jobs if job.bulk is not None]
            if bulk:
                self._run_unique_inserts(conn, bulk)
            for job in jobs:
                job.tx = Tx(conn)
                if job.bulk is not None:
                    continue
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
            # Let every callback that is already ready run first (the other requests read in this
            # loop iteration): their jobs join this batch instead of each costing a thread hop.
            await asyncio.sleep(0)
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
            if self._queue.empty():
                self._idle.set()
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

    async def _checkpoint_loop(self) -> None:
        assert self._checkpointer is not None
        conn = self._checkpointer
        seen = -1
        while True:
            await asyncio.sleep(CHECKPOINT_EVERY_SECS)
            if self.jobs == seen:
                continue
            seen = self.jobs
            try:
                await _in_thread(conn, lambda c: c.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone(), conn._conn)  # noqa: SLF001
            except sqlite3.Error:
                log.exception("passive checkpoint failed")

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


def _bulk_row(tx: Tx, row: dict[str, Any]) -> None:
    raise AssertionError("bulk rows are inserted by Database._run_unique_inserts")


def now() -> float:
    return time.time()
