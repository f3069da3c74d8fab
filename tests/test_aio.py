"""cancel_and_wait: the task has ended when it returns, and the caller goes on."""

from __future__ import annotations

import asyncio

from twi_overlay.aio import cancel_and_wait


async def test_cancel_and_wait() -> None:
    cleaned = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.set()

    task = asyncio.create_task(forever())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert task.cancelled() and cleaned.is_set()
    await cancel_and_wait(None)
    await cancel_and_wait(task)  # twice is harmless
