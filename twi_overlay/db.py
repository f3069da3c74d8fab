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
import collections
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import orjson

log = logging.getLogger(__name__)
T = TypeVar("T")
# At most this many jobs per batch. Not a cap on throughput but a way out of a convoy: when one batch
# took every waiting delivery, all 64 connections of a load test ended up in the same batch, cycle
# after cycle, and the event loop sat idle (~15 % of the time) while they committed, then had all 64
# to answer and read at once. With a cap, a flood splits into batches that alternate: one commits
# while the loop answers and reads the other (the loop's idle time halved). Measured with 64
# connections in A/B runs: +0-20 % deliveries/s; 16, 24 and 48 were worse (more batches, each with its
# own thread hand-offs, or uneven halves).
MAX_BATCH = 32
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
# The writer never checkpoints inside a COMMIT (SQLite's default after every 1000 WAL pages): that
# copy-and-fsync stalled every ACK of its batch by several ms. A checkpointer connection in its own
# thread runs PASSIVE checkpoints instead, which neither block writers nor hold the GIL.
CHECKPOINT_EVERY_SECS = 1.0
# Under a steady stream of writes a PASSIVE checkpoint never catches up with the writer, so SQLite
# never starts the WAL over and the file grows without bound (1.7 GB after a 16 s bench burst). When a
# PASSIVE pass leaves the WAL this long, the writer itself runs a RESTART checkpoint between two
# batches (the PASSIVE pass just copied nearly everything, so the pause is short), and the next write
# starts the WAL over from its first frame. The file keeps its size (so it stays bounded by this
# threshold) until the TTL job's TRUNCATE checkpoint. There is no journal_size_limit: cutting the file
# back at each restart put an ftruncate, and on a disk mounted with `discard` a synchronous discard of
# the freed blocks, in the writer thread; that batch of ACKs took 25-29 ms (off-CPU trace of the writer).
WAL_RESTART_FRAMES = 32768  # 128 MiB: only a sustained flood gets here; ordinary load resets the WAL itself
PASSIVE_PASSES_BEFORE_RESTART = 4
RESTART_MAX_LEFT_FRAMES = 256


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
    """A row insert that many callers make at once (webhook deliveries). The writer inserts a whole
    batch's rows with one statement over a JSON array, skipping keys that exist; rows are lists whose
    first item is the unique key. When fewer rows went in than were offered, the ids of all offered
    keys are read back: with AUTOINCREMENT the `rowcount` largest are the rows just inserted."""

    insert_many: str  # INSERT ... SELECT ... FROM json_each(:rows) WHERE true ON CONFLICT DO NOTHING
    ids_of: str  # SELECT <key>, id ... WHERE <key> IN (SELECT value FROM json_each(:keys))


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
        # A plain deque and one waiter future: asyncio.Queue's bookkeeping (unfinished-task counts,
        # getter and putter lists) is measurable on the webhook's ACK path, and we need none of it.
        self._queue: collections.deque[_Job] = collections.deque()
        self._has_work: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batches = 0
        self.jobs = 0
        self.wal_restarts = 0

    async def open(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._loop = asyncio.get_running_loop()
        self._writer = await aiosqlite.connect(self.path, isolation_level=None)
        self._reader = await aiosqlite.connect(self.path, isolation_level=None)
        self._checkpointer = await aiosqlite.connect(self.path, isolation_level=None)
        for conn in (self._writer, self._reader, self._checkpointer):
            conn.row_factory = sqlite3.Row
            await _in_thread(conn, apply_pragmas, conn._conn)  # noqa: SLF001
        await self._writer.execute("PRAGMA wal_autocheckpoint=0")
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
        while self._queue:
            job = self._queue.popleft()
            if not job.future.done():
                job.future.set_exception(DatabaseClosed("database is closing"))
        for conn in (self._writer, self._reader, self._checkpointer):
            if conn is not None:
                await conn.close()
        self._writer = self._reader = self._checkpointer = None

    # -- writes ---------------------------------------------------------------------------------
    def _new_future(self) -> asyncio.Future[Any]:
        # The loop captured at open(): asyncio.get_running_loop() costs a getpid() system call per
        # call on Python 3.11, and on a VM a system call is several microseconds of every ACK.
        assert self._loop is not None
        return self._loop.create_future()

    def _enqueue(self, job: _Job) -> None:
        self._queue.append(job)
        self._idle.clear()
        waiter = self._has_work
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(tx, *args)` in a write transaction; returns after COMMIT."""
        if self._closed:
            raise DatabaseClosed("database is closed")
        future: asyncio.Future[Any] = self._new_future()
        self._enqueue(_Job(fn, args, future))
        return await future

    async def insert_unique(self, spec: UniqueInsert, row: list[Any]) -> bool:
        """Insert `row` unless its key exists; True when inserted. Returns after COMMIT."""
        if self._closed:
            raise DatabaseClosed("database is closed")
        future: asyncio.Future[Any] = self._new_future()
        self._enqueue(_Job(_bulk_row, (row,), future, bulk=spec))
        return await future

    @staticmethod
    def _run_unique_inserts(conn: sqlite3.Connection, jobs: list[_Job]) -> None:
        """All of a batch's bulk rows: one INSERT statement per spec, in arrival order. A key offered
        twice in one batch is inserted once (the first caller gets True)."""
        groups: dict[UniqueInsert, list[_Job]] = {}
        for job in jobs:
            assert job.bulk is not None
            groups.setdefault(job.bulk, []).append(job)
        for spec, group in groups.items():
            offered: dict[Any, _Job] = {}
            for job in group:
                job.result = job.args[0][0] not in offered
                if job.result:
                    offered[job.args[0][0]] = job
            try:
                cur = conn.execute(spec.insert_many, {"rows": orjson.dumps([job.args[0] for job in offered.values()])})
                if cur.rowcount < len(offered):  # some keys were stored already: which went in?
                    found = conn.execute(spec.ids_of, {"keys": orjson.dumps(list(offered))}).fetchall()
                    found.sort(key=lambda row: row[1], reverse=True)
                    inserted = {row[0] for row in found[: cur.rowcount]}
                    for key, job in offered.items():
                        job.result = key in inserted
                for job in group:
                    job.ok = True
            except sqlite3.Error as exc:
                if not conn.in_transaction:
                    raise  # no transaction left to keep the rest of the batch in: it fails as one
                for job in group:  # one statement: SQLite undid all of it, the batch's other jobs stand
                    job.ok, job.error = False, exc

    async def wait_idle(self, max_wait: float) -> bool:
        """Until the writer has nothing queued (or `max_wait` passes): background work yields to ACKs.
        False when the writer stayed busy the whole time (it is saturated)."""
        if not self._queue and self._idle.is_set():
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), max_wait)
        except TimeoutError:
            return False
        return True

    def _run_batch(self, conn: sqlite3.Connection, jobs: list[_Job]) -> None:
        if all(job.bulk is not None for job in jobs):
            # Only webhook deliveries (the common case under load): each INSERT statement is its own
            # transaction in autocommit mode, which saves the BEGIN and COMMIT round trips.
            self._run_unique_inserts(conn, jobs)
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            bulk = [job for job in jobs if job.bulk is not None]
            if bulk:
                self._run_unique_inserts(conn, bulk)
            for job in jobs:
                if job.bulk is not None:
                    continue
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
            if not self._queue:
                self._has_work = self._new_future()
                await self._has_work
            jobs = [self._queue.popleft()]
            # Let every callback that is already ready run first (the other requests read in this
            # loop iteration): their jobs join this batch instead of each costing a thread hop.
            await asyncio.sleep(0)
            while len(jobs) < MAX_BATCH and self._queue:
                jobs.append(self._queue.popleft())
            bulk = [job for job in jobs if job.bulk is not None]
            if bulk and len(bulk) < len(jobs):
                # Webhook deliveries are committed and answered first, on their own: an ACK never
                # waits behind the processing work that shares its batch.
                parts = [bulk, [job for job in jobs if job.bulk is None]]
            else:
                parts = [jobs]
            try:
                for part in parts:
                    await self._commit(writer, part)
            except asyncio.CancelledError:
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(DatabaseClosed("database closed during write"))
                raise

    async def _commit(self, writer: aiosqlite.Connection, jobs: list[_Job]) -> None:
        """One batch in the writer's thread, then every caller's answer (and events) in job order."""
        try:
            await _in_thread(writer, self._run_batch, writer._conn, jobs)  # noqa: SLF001
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("write batch failed")
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        self.batches += 1
        self.jobs += len(jobs)
        if not self._queue:
            self._idle.set()
        for job in jobs:
            if job.ok and job.tx is None:  # a bulk row: nothing emitted, nothing to call
                if not job.future.done():
                    job.future.set_result(job.result)
            elif job.ok:
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
        seen = -1
        while True:
            await asyncio.sleep(CHECKPOINT_EVERY_SECS)
            if self.jobs == seen:
                continue
            seen = self.jobs
            try:
                await self.checkpoint_pass()
            except sqlite3.Error:
                log.exception("checkpoint failed")

    async def checkpoint_pass(self) -> None:
        """One PASSIVE checkpoint on the checkpointer's thread. If the WAL is still long after it, more
        PASSIVE passes (each copies what was written during the last) until little is left, then a
        RESTART on the writer's thread: with almost nothing left to copy and sync, ACKs barely notice."""
        conn = self._checkpointer
        if conn is None:
            raise DatabaseClosed("database is closed")
        passes = 0
        while True:
            _busy, wal_frames, done = await _in_thread(conn, _passive_checkpoint, conn._conn)  # noqa: SLF001
            if wal_frames < WAL_RESTART_FRAMES:
                return
            passes += 1
            if wal_frames - done <= RESTART_MAX_LEFT_FRAMES or passes > PASSIVE_PASSES_BEFORE_RESTART:
                break
        if wal_frames - done > RESTART_MAX_LEFT_FRAMES and wal_frames < 4 * WAL_RESTART_FRAMES:
            return  # the writer outruns the copying: try again next second (a hard limit stands)
        busy, _frames, _done = await self.checkpoint("RESTART")
        self.wal_restarts += not busy

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

    async def checkpoint(self, mode: str = "TRUNCATE") -> tuple[int, int, int]:
        """PRAGMA wal_checkpoint(mode) on the writer thread, between two write batches. It never waits:
        RESTART and TRUNCATE would otherwise wait up to busy_timeout for a reader on an old snapshot
        (a backup, an operator's sqlite3 shell), and every ACK waits behind the writer. A checkpoint
        that could not finish reports busy=1 and the next one tries again."""
        if self._writer is None:
            raise DatabaseClosed("database is closed")
        if mode not in ("PASSIVE", "FULL", "RESTART", "TRUNCATE"):
            raise ValueError(f"unknown checkpoint mode {mode!r}")

        def run(conn: sqlite3.Connection) -> tuple[int, int, int]:
            conn.execute("PRAGMA busy_timeout=0")
            try:
                return _wal_checkpoint(conn, mode)
            finally:
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

        return await _in_thread(self._writer, run, self._writer._conn)  # noqa: SLF001


def _wal_checkpoint(conn: sqlite3.Connection, mode: str) -> tuple[int, int, int]:
    busy, log_frames, checkpointed = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return busy, log_frames, checkpointed


def _passive_checkpoint(conn: sqlite3.Connection) -> tuple[int, int, int]:
    return _wal_checkpoint(conn, "PASSIVE")


def _bulk_row(tx: Tx, row: Sequence[Any]) -> None:
    raise AssertionError("bulk rows are inserted by Database._run_unique_inserts")


def now() -> float:
    return time.time()
