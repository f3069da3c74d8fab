"""Background work owned by the app: loops end with their cleanup context, one-off tasks at close."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web

from twi_overlay.ops.background import Tasks, background


async def test_a_background_loop_runs_for_the_life_of_its_context() -> None:
    running = asyncio.Event()
    cancelled = asyncio.Event()

    async def loop(app: web.Application) -> None:
        running.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    ctx = background("test-loop", loop)(web.Application())
    await ctx.__anext__()
    await running.wait()
    with pytest.raises(StopAsyncIteration):
        await ctx.__anext__()
    assert cancelled.is_set()


async def test_tasks_are_cancelled_at_close_and_failures_logged(caplog: pytest.LogCaptureFixture) -> None:
    tasks = Tasks()

    async def fails() -> None:
        raise RuntimeError("boom")

    async def forever() -> None:
        await asyncio.Event().wait()

    tasks.spawn(fails(), "fails")
    long = tasks.spawn(forever(), "forever")
    with caplog.at_level(logging.ERROR):
        await asyncio.sleep(0.01)
    assert "background task failed" in caplog.text and len(tasks) == 1
    await tasks.close()
    assert long is not None and long.cancelled() and len(tasks) == 0
    assert tasks.spawn(forever(), "late") is None
