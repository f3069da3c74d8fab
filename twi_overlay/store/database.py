"""The door to the database: one batching writer, one reader, one checkpointer over one file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from twi_overlay.store.bulk import UniqueInsert
from twi_overlay.store.thread import ConnectionClosed, ConnectionThread
from twi_overlay.store.tx import Tx
from twi_overlay.store.wal import Checkpoint, Checkpointer, FileSync, checkpoint_on_writer
from twi_overlay.store.writer import DatabaseClosed, Writer

T = TypeVar("T")


class Database:
    def __init__(self, path: str, on_events: Callable[[list[Any]], None] | None = None):
        self.path = path
        self._writer_thread = ConnectionThread(path, "db-writer")
        self._reader = ConnectionThread(path, "db-reader")
        self._writer = Writer(self._writer_thread, on_events)
        self._files = FileSync(path)
        self._checkpointer = Checkpointer(path, self._writer_thread, lambda: self._writer.jobs, self._files)
        self._open = False

    async def open(self) -> None:
        await self._writer_thread.open()
        await self._writer_thread.call(_no_autocheckpoint)
        await self._reader.open()
        self._writer.start()
        await self._checkpointer.start()
        self._open = True

    async def close(self) -> None:
        self._open = False
        await self._checkpointer.stop()
        await self._writer.stop()
        await self._reader.close()
        await self._writer_thread.close()
        self._files.close()  # last: its descriptors must outlive every connection (store/wal.py FileSync)

    # -- writes ---------------------------------------------------------------------------------------
    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(tx, *args)` in a write transaction; returns after COMMIT (events published by then)."""
        return await self._writer.write(fn, *args)

    async def insert_unique(self, spec: UniqueInsert, row: Sequence[Any]) -> bool:
        """Insert `row` unless its key exists; True when inserted. Returns after COMMIT."""
        return await self._writer.insert_unique(spec, row)

    async def wait_idle(self, max_wait: float) -> bool:
        return await self._writer.wait_idle(max_wait)

    # -- reads --------------------------------------------------------------------------------------
    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(tx, *args)` in a read transaction on the reader connection (never waits on writes)."""
        if not self._open:
            raise DatabaseClosed("database is closed")
        try:
            return await self._reader.call(_read, fn, args)
        except ConnectionClosed:
            raise DatabaseClosed("database is closed") from None

    # -- checkpoints ----------------------------------------------------------------------------------
    async def checkpoint(self, mode: str = "TRUNCATE") -> Checkpoint:
        """wal_checkpoint(mode) on the writer's thread, between two batches, never waiting for readers.
        A RESTART or TRUNCATE comes after a PASSIVE pass and an fsync on the checkpointer's thread
        (store/wal.py), so the writer's part is short."""
        if not self._open:
            raise DatabaseClosed("database is closed")
        if mode in ("RESTART", "TRUNCATE"):
            await self._checkpointer.settle()
        return await checkpoint_on_writer(self._writer_thread, mode)

    async def checkpoint_pass(self) -> None:
        """What the checkpointer does every second (tests drive it directly)."""
        await self._checkpointer.run_pass()

    # -- figures for tests and benches ------------------------------------------------------------------
    @property
    def batches(self) -> int:
        return self._writer.batches

    @property
    def jobs(self) -> int:
        return self._writer.jobs

    @property
    def wal_restarts(self) -> int:
        return self._checkpointer.restarts


def _no_autocheckpoint(conn: Any) -> None:
    conn.execute("PRAGMA wal_autocheckpoint=0")  # store/wal.py: the checkpointer does it instead


def _read(conn: Any, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    conn.execute("BEGIN")
    try:
        return fn(Tx(conn), *args)
    finally:
        conn.execute("COMMIT")


__all__ = ["Database", "DatabaseClosed", "Tx", "UniqueInsert"]
