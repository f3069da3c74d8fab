"""Rewards: what Twitch tells us of them (reward.sync), and the status updates we owe Twitch for the
redemptions of rewards that are ours (a Helix job, written in the command's own transaction)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from twi_overlay import repo
from twi_overlay.domain.context import Ctx, Handler, Result
from twi_overlay.domain.events import admin_event
from twi_overlay.domain.outcomes import Refusal, Refuse
from twi_overlay.domain.payload import text
from twi_overlay.repo.rewards import Reward

FULFILLED = "FULFILLED"
CANCELED = "CANCELED"  # a refund


def tell_twitch(
    ctx: Ctx, entry_id: int | None, reward_id: str | None, redemption_id: str | None, action: str
) -> str | None:
    """Queue a status update for a Twitch redemption of a reward that is (or may be) ours; "pending"
    when one was queued, None when there is nothing to tell (an admin's walk-in, a reward Twitch said
    is not ours)."""
    if not reward_id or not redemption_id:
        return None
    reward = repo.rewards.get(ctx.tx, ctx.broadcaster_id, reward_id)
    if reward is not None and reward.managed is False:
        return None
    repo.helix_jobs.enqueue(ctx.tx, ctx.broadcaster_id, entry_id, reward_id, redemption_id, action)
    return "pending"


def sync(ctx: Ctx, payload: dict[str, Any]) -> Result:
    """reward.sync: a reward was added, changed or removed on Twitch."""
    reward = repo.rewards.upsert(
        ctx.tx,
        ctx.broadcaster_id,
        str(payload["id"]),
        title=str(payload.get("title") or ""),
        cost=int(payload.get("cost") or 0),
        is_enabled=bool(payload.get("is_enabled", True)),
        is_paused=bool(payload.get("is_paused", False)),
        removed=bool(payload.get("removed")),
    )
    ctx.emit(admin_event(ctx.broadcaster_id, "reward.updated", {"reward": reward_view(reward)}))
    return Result(data={"reward": reward_view(reward)})


def reward_view(reward: Reward) -> dict[str, Any]:
    return asdict(reward)


def retry(ctx: Ctx, payload: dict[str, Any]) -> Result:
    """redemption.retry {redemption_id}: a status update that failed (a 400, a redemption Twitch no
    longer has, a reward that is not ours) is tried again, now, with a fresh backoff."""
    redemption_id = text(payload, "redemption_id", 100)
    job = repo.helix_jobs.restart(ctx.tx, ctx.broadcaster_id, redemption_id)
    if job is None:
        found = repo.helix_jobs.by_redemption(ctx.tx, ctx.broadcaster_id, redemption_id)
        if found is None:
            raise Refuse(Refusal.NOT_FOUND, "unknown_redemption", f"no status update for redemption {redemption_id}")
        raise Refuse(Refusal.CONFLICT, "not_failed", f"the status update for {redemption_id} is {found.state}")
    entry = None
    if job.entry_id is not None:
        found_entry = repo.queue.set_helix_status(ctx.tx, job.entry_id, "pending")
        entry = None if found_entry is None else found_entry.admin_view()
    ctx.emit(
        admin_event(
            ctx.broadcaster_id,
            "helix.result",
            {"entry": entry, "redemption_id": redemption_id, "action": job.action, "result": "retry requested"},
        )
    )
    return Result(data={"redemption_id": redemption_id, "action": job.action, "state": "pending"})


COMMANDS: dict[str, Handler] = {"reward.sync": sync, "redemption.retry": retry}
ADMIN_COMMANDS: frozenset[str] = frozenset({"redemption.retry"})
