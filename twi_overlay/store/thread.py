"""A SQLite connection that owns one thread: every call runs a whole function there, one hop each.

The writer hands the thread a whole batch of transactions and the reader a whole read transaction per
call, so a batch costs one thread hop. aiosqlite's public API runs one statement per hop and keeps
its function-call entry point private, so these connections own their thread outright, as
datasette's write thread does: a queue of calls, results handed back with `call_soon_threadsafe`.
The thread is a daemon, so a connection left open can never hold the process at exit.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from twi_overlay.store.sqlite import connect

T = TypeVar("T")
_Call = tuple["asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


class ConnectionClosed(RuntimeError):
    pass


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class ConnectionThread:
    def __init__(self, path: str, name: str):
        self.path = path
        self.name = name
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(target=self._run, args=(self._loop, ready), name=self.name, daemon=True)
        self._thread.start()
        try:
            await ready
        except BaseException:
            self._thread = None
            raise

    def _run(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
        try:
            conn = connect(self.path)
        except BaseException as exc:  # noqa: BLE001 - handed to open()
            loop.call_soon_threadsafe(_resolve, ready, None, exc)
            return
        loop.call_soon_threadsafe(_resolve, ready, None, None)
        try:
            while (item := self._calls.get()) is not None:
                future, fn, args = item
                result, error = None, None
                try:
                    result = fn(conn, *args)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller, whatever it is
                    error = exc
                try:
                    loop.call_soon_threadsafe(_resolve, future, result, error)
                except RuntimeError:  # the loop is closed: nobody is waiting any more
                    pass
        finally:
            conn.close()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(connection, *args)` in the connection's thread; returns its result or raises its error."""
        if self._thread is None or self._loop is None:
            raise ConnectionClosed(f"{self.name} is closed")
        future: asyncio.Future[T] = self._loop.create_future()
        self._calls.put((future, fn, args))
        return await future

    async def close(self) -> None:
        """Finish the calls already queued, close the connection, end the thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._calls.put(None)
        await asyncio.to_thread(thread.join)
