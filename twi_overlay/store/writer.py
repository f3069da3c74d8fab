"""The one writer: jobs from every caller, run in batches in the writer connection's thread.

The writer task takes the jobs that are waiting (up to `pacing.WRITE_BATCH_MAX`), runs them in one
`BEGIN IMMEDIATE` transaction, each inside its own SAVEPOINT (a failing job rolls back alone),
commits, and only then answers the callers and publishes the events the jobs emitted, in job order.
One thread hop and one commit per batch instead of per statement is what makes persist-then-ACK
cheap under load. Bulk rows (webhook deliveries) in a batch are committed and answered first, on
their own, so an ACK never waits behind the processing work that shares its batch.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from twi_overlay import pacing
from twi_overlay.aio import cancel_and_wait
from twi_overlay.store.bulk import UniqueInsert, insert_unique
from twi_overlay.store.thread import ConnectionThread
from twi_overlay.store.tx import Tx

log = logging.getLogger(__name__)
T = TypeVar("T")


class DatabaseClosed(RuntimeError):
    pass


@dataclass(slots=True)
class _Job:
    fn: Callable[..., Any] | None  # None for a bulk row
    args: tuple[Any, ...]
    future: asyncio.Future[Any]
    bulk: UniqueInsert | None = None
    tx: Tx | None = None
    ok: bool = False
    result: Any = None
    error: BaseException | None = None

    @property
    def row(self) -> Sequence[Any]:
        row: Sequence[Any] = self.args[0]
        return row


class Writer:
    def __init__(self, thread: ConnectionThread, on_events: Callable[[list[Any]], None] | None = None):
        self.thread = thread
        self.on_events = on_events
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

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="db-writer")

    async def stop(self) -> None:
        """Stop taking jobs; every job not yet run fails with DatabaseClosed."""
        self._closed = True
        await cancel_and_wait(self._task)
        self._task = None
        while self._queue:
            job = self._queue.popleft()
            if not job.future.done():
                job.future.set_exception(DatabaseClosed("database is closing"))

    # -- callers ------------------------------------------------------------------------------------
    def _submit(self, job: _Job) -> asyncio.Future[Any]:
        self._queue.append(job)
        self._idle.clear()
        waiter = self._has_work
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return job.future

    def _new_future(self) -> asyncio.Future[Any]:
        # The loop captured at start(): asyncio.get_running_loop() costs a getpid() system call per
        # call on Python 3.11, and on a VM a system call is several microseconds of every ACK.
        if self._closed or self._loop is None:
            raise DatabaseClosed("database is closed")
        return self._loop.create_future()

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(tx, *args)` in a write transaction; returns after COMMIT."""
        result: T = await self._submit(_Job(fn, args, self._new_future()))
        return result

    async def insert_unique(self, spec: UniqueInsert, row: Sequence[Any]) -> bool:
        """Insert `row` unless its key exists; True when inserted. Returns after COMMIT."""
        inserted: bool = await self._submit(_Job(None, (row,), self._new_future(), bulk=spec))
        return inserted

    async def wait_idle(self, max_wait: float) -> bool:
        """Until nothing is queued (or `max_wait` passes): background work yields to ACKs.
        False when the writer stayed busy the whole time (it is saturated)."""
        if not self._queue and self._idle.is_set():
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), max_wait)
        except TimeoutError:
            return False
        return True

    # -- the writer task ------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._has_work = self._new_future()
                await self._has_work
            jobs = [self._queue.popleft()]
            # Let every callback that is already ready run first (the other requests read in this
            # loop iteration): their jobs join this batch instead of each costing a thread hop.
            await asyncio.sleep(0)
            while len(jobs) < pacing.WRITE_BATCH_MAX and self._queue:
                jobs.append(self._queue.popleft())
            bulk = [job for job in jobs if job.bulk is not None]
            parts = [bulk, [job for job in jobs if job.bulk is None]] if bulk and len(bulk) < len(jobs) else [jobs]
            try:
                for part in parts:
                    await self._commit(part)
            except asyncio.CancelledError:
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(DatabaseClosed("database closed during write"))
                raise

    async def _commit(self, jobs: list[_Job]) -> None:
        """One batch in the writer's thread, then every caller's answer (and events) in job order."""
        try:
            await self.thread.call(_run_batch, jobs)
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
            if job.ok and job.tx is not None:
                self._after_commit(job.tx)
            if job.future.done():
                continue
            if job.ok:
                job.future.set_result(job.result)
            else:
                assert job.error is not None
                job.future.set_exception(job.error)

    def _after_commit(self, tx: Tx) -> None:
        if tx.events and self.on_events is not None:
            try:
                self.on_events(tx.events)
            except Exception:
                log.exception("event publishing failed")
        for callback in tx.after_commit:
            try:
                callback()
            except Exception:
                log.exception("after-commit callback failed")


def _run_batch(conn: sqlite3.Connection, jobs: list[_Job]) -> None:
    """In the writer thread: one transaction for the batch, a savepoint per job."""
    groups: dict[UniqueInsert, list[_Job]] = {}
    for job in jobs:
        if job.bulk is not None:
            groups.setdefault(job.bulk, []).append(job)
    if all(job.fn is None for job in jobs):
        # Only deliveries (the common case under load): each INSERT statement is its own transaction
        # in autocommit mode, which saves the BEGIN and COMMIT round trips.
        for spec, rows in groups.items():
            insert_unique(conn, spec, rows)
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for spec, rows in groups.items():
            insert_unique(conn, spec, rows)
        for job in jobs:
            if job.fn is None:
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
