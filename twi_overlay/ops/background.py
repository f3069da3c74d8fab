"""Background work that belongs to the app: loops started with it and tasks started on the way (after
a sign-in), all cancelled and awaited at shutdown.

Every loop is supervised: a loop that raises (or returns) is logged, counted in
`background_restarts_total{loop}` and started again after a backoff, and `Loops` remembers since when
it is down, so /healthz can name a loop that stays down."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import web

from twi_overlay.aio import cancel_and_wait
from twi_overlay.ops import metrics

log = logging.getLogger(__name__)
CleanupCtx = Callable[[web.Application], AsyncIterator[None]]
RESTART_MIN_SECS = 1.0
RESTART_MAX_SECS = 60.0
HEALTHY_AFTER_SECS = 60.0  # a loop that ran this long before it failed starts again at the shortest backoff
STABLE_AFTER_SECS = 10.0  # a loop that failed counts as down until it has run this long without failing


class Loops:
    """Which supervised loops are down, and since when. A loop that fails again and again right after
    each restart stays down from its first failure: it is never up long enough to count."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.down_since: dict[str, float] = {}
        self.running_since: dict[str, float] = {}

    def started(self, name: str) -> None:
        self.running_since[name] = self.clock()

    def failed(self, name: str) -> None:
        running = self.running_since.pop(name, None)
        if running is not None and self._stable(running):
            self.down_since.pop(name, None)  # it had recovered: this is a new outage
        self.down_since.setdefault(name, self.clock())

    def stopped(self, name: str) -> None:
        self.running_since.pop(name, None)
        self.down_since.pop(name, None)

    def _stable(self, running_since: float) -> bool:
        return self.clock() - running_since >= STABLE_AFTER_SECS

    def down_longer_than(self, seconds: float) -> list[str]:
        """Loops that failed more than `seconds` ago and have not run STABLE_AFTER_SECS since."""
        now = self.clock()
        return sorted(
            name
            for name, since in self.down_since.items()
            if now - since > seconds and not (name in self.running_since and self._stable(self.running_since[name]))
        )


async def supervise(name: str, run: Callable[[], Awaitable[None]], loops: Loops) -> None:
    """Run `run()` for good: after a failure, log, count and start it again, backing off (with jitter)
    from RESTART_MIN_SECS to RESTART_MAX_SECS while it keeps failing."""
    delay = RESTART_MIN_SECS
    while True:
        loops.started(name)
        started = time.monotonic()
        try:
            await run()
            log.error("background loop returned; starting it again", extra={"loop": name})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background loop failed; starting it again", extra={"loop": name})
        loops.failed(name)
        metrics.BACKGROUND_RESTARTS.labels(name).inc()
        if time.monotonic() - started > HEALTHY_AFTER_SECS:
            delay = RESTART_MIN_SECS
        await asyncio.sleep(delay * random.uniform(0.8, 1.2))
        delay = min(delay * 2, RESTART_MAX_SECS)


def background(name: str, run: Callable[[web.Application], Awaitable[None]], loops: Loops) -> CleanupCtx:
    """A cleanup context running `run(app)`, supervised, for the app's lifetime."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(supervise(name, lambda: run(app), loops), name=name)
        yield
        await cancel_and_wait(task)
        loops.stopped(name)

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
