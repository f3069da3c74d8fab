"""asyncio helpers every room may use."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel a task and wait until it has ended. Its CancelledError is swallowed, so the caller's
    cleanup goes on (a cancelled task awaited without that aborts the cleanup contexts after it)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
