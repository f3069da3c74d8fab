"""The policy: which command a redemption becomes, keyed by reward id."""

from __future__ import annotations

from tests.domain.commands import redemption
from twi_overlay.domain.policy import Command, decide
from twi_overlay.domain.settings import default_settings


def test_policy_is_keyed_by_reward_id() -> None:
    doc = default_settings()
    doc["rewards"] = {"r-queue": "queue", "r-count": "counter:deaths", "r-off": "ignore"}
    assert decide(doc, redemption("1", reward="r-queue")).type == "queue.enqueue"  # type: ignore[union-attr]
    assert decide(doc, redemption("1", reward="r-count")) == Command("counter.increment", {"name": "deaths", "by": 1})
    assert decide(doc, redemption("1", reward="r-off")) is None
    assert decide(doc, {**redemption("1", reward="unbound"), "reward_title": "r-queue"}) is None
