"""Background work that belongs to the app: loops started with it and tasks started on the way (after
a sign-in), all cancelled and awaited at shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import web

from twi_overlay.aio import cancel_and_wait

log = logging.getLogger(__name__)
CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


def background(name: str, run: Callable[[web.Application], Awaitable[None]]) -> CleanupCtx:
    """A cleanup context running `run(app)` as a task for the app's lifetime."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async def main() -> None:
            await run(app)

        task = asyncio.create_task(main(), name=name)
        yield
        await cancel_and_wait(task)

    return ctx


class Tasks:
    """One-off tasks the app starts while it runs; `close()` cancels whatever is still running."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None] | None:
        if self._closed:
            coro.close()
            return None
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception(), extra={"task": task.get_name()})

    async def join(self) -> None:
        """Until every task started so far has ended (tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        self._closed = True
        for task in tuple(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._tasks)
