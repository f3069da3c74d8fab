"""redemption.add and redemption.update from Twitch."""

from __future__ import annotations

from tests.domain.commands import ok, queue, redemption, settings
from tests.helpers import BROADCASTER
from twi_overlay import repo
from twi_overlay.domain.redemptions import ALREADY_HANDLED
from twi_overlay.store.database import Database


async def test_redemptions_are_idempotent_by_redemption_id(d: Database) -> None:
    await settings(d, rewards={"r-queue": "queue"})
    key = "redemption:abc"
    await ok(d, "redemption.add", redemption("abc", "Ann"), source="twitch", key=key)
    again = await ok(d, "redemption.add", redemption("abc", "Ann"), source="twitch", key=key)
    assert again["replayed"] is True
    assert await queue(d) == [("Ann", 1, "waiting")]
    unbound = await ok(d, "redemption.add", redemption("x1", "Bob", reward="r-unbound"), source="twitch")
    assert unbound["reason"] == "ignored: reward not bound"
    assert {r.id for r in await d.read(repo.rewards.listed, BROADCASTER)} == {"r-queue", "r-unbound"}


async def test_rejected_redemption_of_a_managed_reward_records_a_refund(d: Database) -> None:
    await settings(d, rewards={"r-queue": "queue"}, queue={"open": False})
    r = await ok(d, "redemption.add", redemption("red-1", "Ann"), source="twitch")
    assert (r["result"], r["reason"], r["data"]) == ("rejected", "queue_closed", {"refund": "pending"})
    jobs = await d.read(repo.helix_jobs.pending)
    assert [(j.redemption_id, j.action, j.entry_id) for j in jobs] == [("red-1", "CANCELED", None)]
    # A reward known not to be ours (Helix said 403) gets no refund intent.
    await d.write(lambda tx: tx.execute("UPDATE rewards SET managed = 0 WHERE id = 'r-queue'"))
    r = await ok(d, "redemption.add", redemption("red-2", "Bob"), source="twitch")
    assert "data" not in r and len(await d.read(repo.helix_jobs.pending)) == 1


async def test_redemption_update_from_twitch_removes_the_entry(d: Database) -> None:
    await settings(d, rewards={"r-queue": "queue"}, queue={"per_user_limit": 5})
    await ok(d, "redemption.add", redemption("red-1", "Ann"), source="twitch")
    await ok(d, "redemption.add", redemption("red-2", "Bob"), source="twitch")
    r = await ok(d, "redemption.update", {"redemption_id": "red-1", "status": "fulfilled"}, source="twitch")
    assert r["events"][0]["type"] == "queue.completed"
    assert r["data"]["entry"]["helix_status"] == "fulfilled"
    assert await queue(d) == [("Bob", 1, "waiting")]
    r = await ok(d, "redemption.update", {"redemption_id": "nope", "status": "canceled"}, source="twitch")
    assert r["reason"].startswith("ignored")
    assert await d.read(repo.helix_jobs.pending) == []  # Twitch already knows


async def test_a_redemption_handled_before_is_known_by_what_is_kept_for_good(d: Database) -> None:
    """Past the command log's 72 h (no idempotency key left), the entry or the status update owed to
    Twitch still says the redemption was handled: it is not run again, and nobody is refunded."""
    await settings(d, rewards={"r-queue": "queue"})
    await ok(d, "redemption.add", redemption("red-1", "Ann"), source="twitch", key="redemption:red-1")
    again = await ok(d, "redemption.add", redemption("red-1", "Ann"), source="twitch")  # the key is gone
    assert (again["result"], again["reason"], again["events"]) == ("ok", ALREADY_HANDLED, [])
    assert await queue(d) == [("Ann", 1, "waiting")] and await d.read(repo.helix_jobs.pending) == []
    await settings(d, queue={"open": False})
    refused = await ok(d, "redemption.add", redemption("red-2", "Bob"), source="twitch")
    assert refused["data"] == {"refund": "pending"}
    again = await ok(d, "redemption.add", redemption("red-2", "Bob"), source="twitch")
    assert again["reason"] == ALREADY_HANDLED and len(await d.read(repo.helix_jobs.pending)) == 1
