"""Channel-point redemptions from Twitch (webhook, catch-up) or the development mock.

redemption.add: the policy decides what the reward is bound to (queue.enqueue, counter.increment, or
nothing). redemption.update: the redemption was fulfilled or canceled on Twitch's side, so its entry
leaves the queue.

Both are idempotent by redemption id. The runner's idempotency key covers the command log's retention
(72 h); past it, what is kept for good decides: a redemption that has a queue entry, or a status
update owed or sent to Twitch, was handled already. Without that check, the catch-up meeting an old
UNFULFILLED redemption would run it again, and a viewer still waiting in the queue would be refused
by the per-user limit and refunded.
"""

from __future__ import annotations

from typing import Any

from twi_overlay import repo
from twi_overlay.domain import counters, queue, settings
from twi_overlay.domain.context import Ctx, Handler, Result
from twi_overlay.domain.events import entry_event
from twi_overlay.domain.policy import decide

BOUND: dict[str, Handler] = {"queue.enqueue": queue.enqueue, "counter.increment": counters.increment}
ALREADY_HANDLED = "duplicate: redemption already handled"


def handled_before(ctx: Ctx, redemption_id: str) -> bool:
    return (
        repo.queue.by_redemption(ctx.tx, ctx.broadcaster_id, redemption_id) is not None
        or repo.helix_jobs.by_redemption(ctx.tx, ctx.broadcaster_id, redemption_id) is not None
    )


def add(ctx: Ctx, payload: dict[str, Any]) -> Result:
    redemption_id = payload.get("redemption_id")
    if redemption_id and handled_before(ctx, redemption_id):
        return Result("ok", ALREADY_HANDLED)
    reward_id = payload.get("reward_id")
    if reward_id and repo.rewards.get(ctx.tx, ctx.broadcaster_id, reward_id) is None:
        repo.rewards.upsert(
            ctx.tx,
            ctx.broadcaster_id,
            reward_id,
            title=payload.get("reward_title") or "",
            cost=int(payload.get("reward_cost") or 0),
        )
    command = decide(settings.current(ctx).doc, payload)
    if command is None:
        return Result("ok", "ignored: reward not bound")
    return BOUND[command.type](ctx, command.payload)


def update(ctx: Ctx, payload: dict[str, Any]) -> Result:
    status = payload.get("status")
    rid = payload.get("redemption_id")
    found = repo.queue.by_redemption(ctx.tx, ctx.broadcaster_id, rid) if rid else None
    if found is None or not found.active or status not in ("fulfilled", "canceled"):
        return Result("ok", "ignored: no matching entry in the queue")
    new_status, helix, event_type = (
        ("completed", "fulfilled", "queue.completed")
        if status == "fulfilled"
        else ("canceled", "refunded", "queue.canceled")
    )
    entry = repo.queue.finish(ctx.tx, ctx.broadcaster_id, found.id, new_status, helix, queue.iso_now())
    assert entry is not None
    ctx.emit(entry_event(ctx.broadcaster_id, event_type, entry=entry))
    return Result(data={"entry": entry.admin_view()})


COMMANDS: dict[str, Handler] = {"redemption.add": add, "redemption.update": update}
ADMIN_COMMANDS: frozenset[str] = frozenset()
