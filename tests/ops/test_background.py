"""Background work owned by the app: loops end with their cleanup context, one-off tasks at close."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web

from twi_overlay.aio import cancel_and_wait
from twi_overlay.ops.background import Loops, Tasks, background


async def test_a_background_loop_runs_for_the_life_of_its_context() -> None:
    running = asyncio.Event()
    cancelled = asyncio.Event()

    async def loop(app: web.Application) -> None:
        running.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    ctx = background("test-loop", loop, Loops())(web.Application())
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


async def test_a_failing_loop_is_restarted_counted_and_reported_down(monkeypatch: pytest.MonkeyPatch) -> None:
    from twi_overlay.ops import background as bg
    from twi_overlay.ops import metrics
    from twi_overlay.ops.background import Loops, supervise

    monkeypatch.setattr(bg, "RESTART_MIN_SECS", 0.001)  # the backoff, not what is under test
    now = [100.0]
    loops = Loops(clock=lambda: now[0])
    runs = []
    healthy = asyncio.Event()

    async def flaky() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError("boom")
        healthy.set()
        await asyncio.Event().wait()

    restarts = metrics.BACKGROUND_RESTARTS.labels("flaky")._value.get()
    task = asyncio.create_task(supervise("flaky", flaky, loops))
    await healthy.wait()
    assert len(runs) == 3 and metrics.BACKGROUND_RESTARTS.labels("flaky")._value.get() == restarts + 2
    now[0] += 6
    assert loops.down_longer_than(5) == ["flaky"]  # running again, but not for long yet
    now[0] += bg.STABLE_AFTER_SECS
    assert loops.down_longer_than(5) == []  # it has kept running: up
    await cancel_and_wait(task)


def test_a_loop_that_recovered_and_fails_again_is_a_new_outage() -> None:
    from twi_overlay.ops import background as bg
    from twi_overlay.ops.background import Loops

    now = [0.0]
    loops = Loops(clock=lambda: now[0])
    loops.failed("l")
    loops.started("l")
    now[0] += bg.STABLE_AFTER_SECS + 100  # it ran well for a long time
    assert loops.down_longer_than(5) == []
    loops.failed("l")  # and fails again: down from now, not from its first failure
    assert loops.down_longer_than(5) == []
    now[0] += 6
    assert loops.down_longer_than(5) == ["l"]
