"""Keeps CPython's full garbage-collection passes off the ACK path.

CPython scans the whole heap of tracked objects in a full (generation 2) pass, and starts one each time
the long-lived objects have grown by a quarter. With 10,000 open streams the heap holds ~700k tracked
objects, and while they connect (a reconnect storm after a restart) the passes come one after another,
growing from 30 to 400 ms: every webhook ACK waiting meanwhile waits that long.

`gc.freeze()` moves every tracked object to a permanent generation that no pass scans; it does not
collect and costs next to nothing. Done every FREEZE_SECS, the passes only ever see what was allocated
since, so they stay short whatever the number of streams. The price: an object that lives longer than
that and later becomes garbage in a reference cycle (a stream that closes) is not found until
`gc.unfreeze()`. Every CLEAN_SECS, everything is unfrozen and collected in one full pass, then frozen
again: one pass of that size in minutes, instead of several in seconds. Objects freed by their
reference count (most are) go at once, frozen or not.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable

from twi_overlay import pacing
from twi_overlay.ops import metrics

log = logging.getLogger(__name__)


def clean() -> float:
    """Unfreeze, collect everything, freeze again; the seconds the full pass took."""
    started = time.perf_counter()
    gc.unfreeze()
    found = gc.collect()
    gc.freeze()
    took = time.perf_counter() - started
    metrics.GC_CLEAN_SECONDS.observe(took)
    log.debug("garbage collected", extra={"unreachable": found, "seconds": round(took, 3)})
    return took


async def gc_loop(
    freeze_secs: float = pacing.GC_FREEZE_SECS,
    clean_secs: float = pacing.GC_CLEAN_SECS,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    last_clean = clock()
    try:
        while True:
            await sleep(freeze_secs)
            if clock() - last_clean >= clean_secs:
                clean()
                last_clean = clock()
            else:
                gc.freeze()  # no gc.get_freeze_count() here: it walks the whole list (78 ms at 780k objects)
    finally:
        gc.unfreeze()  # what was frozen is the normal collector's again once we stop
