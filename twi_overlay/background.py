"""Background loops as cleanup contexts: started with the app, cancelled and awaited at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


def background(name: str, run: Callable[[web.Application], Awaitable[None]]) -> CleanupCtx:
    """A cleanup context running `run(app)` as a task for the app's lifetime."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(run(app), name=name)  # type: ignore[arg-type]
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):  # our loops re-raise it; cleanup goes on
            await task

    return ctx
