"""The garbage-collection steward: it freezes the heap so full passes stay short, and its periodic
clean frees the reference cycles that were frozen (streams that closed later) — nothing leaks for good."""

from __future__ import annotations

import gc
import weakref

import pytest

from twi_overlay.ops.gcsteward import gc_loop


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> weakref.ref[Node]:
    """Two objects that point at each other: only the cyclic collector can free them."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


class Stop(Exception):
    pass


async def test_frozen_cycles_are_freed_by_the_clean_and_nothing_stays_frozen() -> None:
    now = [0.0]
    rounds: list[int] = []
    watched: list[weakref.ref[Node]] = []

    async def sleep(secs: float) -> None:
        rounds.append(gc.get_freeze_count())
        if len(rounds) == 2:
            # Frozen by the first round: a plain full pass cannot see it any more.
            assert watched[0]() is not None
            gc.collect()
            assert watched[0]() is not None
            now[0] += 600.0  # the next round is the clean
        if len(rounds) == 3:
            raise Stop
        now[0] += secs

    watched.append(cycle())
    with pytest.raises(Stop):
        await gc_loop(1.0, 600.0, sleep, lambda: now[0])
    assert rounds[0] == 0 and rounds[1] > 0  # the first round froze the heap
    assert watched[0]() is None  # the clean found the frozen cycle
    assert gc.get_freeze_count() == 0  # stopping hands everything back to the normal collector
