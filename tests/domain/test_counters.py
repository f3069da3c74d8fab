"""counter.* commands."""

from __future__ import annotations

from tests.domain.commands import ok, refused
from tests.helpers import BROADCASTER
from twi_overlay import repo
from twi_overlay.domain.outcomes import Refusal
from twi_overlay.store.database import Database


async def test_counters(d: Database) -> None:
    assert (await ok(d, "counter.increment", {"name": "deaths"}))["data"] == {"name": "deaths", "value": 1}
    assert (await ok(d, "counter.increment", {"name": "deaths", "by": 4}))["data"]["value"] == 5
    assert (await ok(d, "counter.increment", {"name": "deaths", "by": -2}))["data"]["value"] == 3
    assert (await ok(d, "counter.set", {"name": "wins", "value": 10}))["data"]["value"] == 10
    assert (await ok(d, "counter.reset", {"name": "deaths"}))["data"]["value"] == 0
    assert await d.read(repo.counters.values, BROADCASTER) == {"deaths": 0, "wins": 10}
    assert (await refused(d, "counter.set", {"name": "bad name!", "value": 1})).kind is Refusal.INVALID
    assert (await refused(d, "counter.set", {"name": "x"})).kind is Refusal.MALFORMED
    assert (await refused(d, "counter.increment", {"name": "x", "by": 10**9})).kind is Refusal.INVALID
