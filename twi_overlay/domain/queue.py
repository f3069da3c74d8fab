"""The viewer queue: queue.enqueue, complete, cancel, pick, move, clear.

Active entries have dense 1-based positions; `waiting` ones can be picked ("now playing"). A finished
entry leaves the queue and stays in the history with what Twitch was told (FULFILLED or refunded).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from twi_overlay import repo
from twi_overlay.domain import roles, settings
from twi_overlay.domain.context import Ctx, Handler, Result
from twi_overlay.domain.events import entry_event
from twi_overlay.domain.outcomes import Refusal, Refuse, malformed
from twi_overlay.domain.payload import flag, integer, text
from twi_overlay.domain.rewards import CANCELED, FULFILLED, tell_twitch
from twi_overlay.repo.queue import QueueEntry

MAX_NAME = 64
MAX_NOTE = 500


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _active_entry(ctx: Ctx, payload: dict[str, Any]) -> QueueEntry:
    entry_id = payload.get("entry_id")
    if type(entry_id) is not int:
        raise malformed("payload.entry_id must be an integer")
    found = repo.queue.get(ctx.tx, ctx.broadcaster_id, entry_id)
    if found is None or not found.active:
        raise Refuse(Refusal.NOT_FOUND, "unknown_entry", f"no entry {entry_id} in the queue")
    return found


def enqueue(ctx: Ctx, payload: dict[str, Any]) -> Result:
    """An admin's walk-in {user_name, note?}, a Twitch redemption the policy bound to the queue, or a
    chat !join. A viewer's join obeys queue.eligibility and goes ahead of the others when queue.priority
    names one of their roles (domain/roles.py)."""
    if ctx.source == "admin":
        user_name = text(payload, "user_name", MAX_NAME)
        note = text(payload, "note", MAX_NOTE, required=False)
        user_id = user_login = reward_id = redemption_id = None
    else:
        user_name = str(payload.get("user_name") or "?")[:MAX_NAME]
        note = str(payload.get("note") or "")[:MAX_NOTE]
        user_id, user_login = payload.get("user_id"), payload.get("user_login")
        reward_id, redemption_id = payload.get("reward_id"), payload.get("redemption_id")
    rules = settings.current(ctx).doc["queue"]
    reason = None
    priority = 0
    if ctx.source != "admin" and (rules["priority"] or rules["eligibility"] != "everyone"):
        # A viewer (channel points or chat) where roles matter; the admin's walk-ins are theirs to place.
        who = roles.of_viewer(ctx.tx, ctx.broadcaster_id, user_id, payload.get("roles"))
        priority = 1 if roles.prioritized(rules["priority"], who) else 0
        if not roles.eligible(rules["eligibility"], who):
            reason = "not_eligible"
    user_key = repo.queue.user_key(user_id, user_name)
    if reason is not None:
        pass  # not eligible: nothing else matters
    elif not rules["open"]:
        reason = "queue_closed"
    elif repo.queue.length(ctx.tx, ctx.broadcaster_id) >= rules["max_length"]:
        reason = "queue_full"
    elif repo.queue.count_for_user(ctx.tx, ctx.broadcaster_id, user_key) >= rules["per_user_limit"]:
        reason = "per_user_limit"
    if reason is not None:
        refund = tell_twitch(ctx, None, reward_id, redemption_id, CANCELED)
        return Result("rejected", reason, {"refund": refund} if refund else None)
    entry = repo.queue.insert(
        ctx.tx,
        ctx.broadcaster_id,
        user_name=user_name,
        user_input=note,
        source=ctx.source,
        now_iso=iso_now(),
        user_id=user_id,
        user_login=user_login,
        reward_id=reward_id,
        redemption_id=redemption_id,
        priority=priority,
    )
    ctx.emit(entry_event(ctx.broadcaster_id, "queue.enqueued", entry=entry))
    return Result(data={"entry": entry.admin_view()})


def _finish(ctx: Ctx, payload: dict[str, Any], status: str, action: str, event_type: str) -> Result:
    found = _active_entry(ctx, payload)
    helix = tell_twitch(ctx, found.id, found.reward_id, found.redemption_id, action)
    entry = repo.queue.finish(ctx.tx, ctx.broadcaster_id, found.id, status, helix, iso_now())
    assert entry is not None
    ctx.emit(entry_event(ctx.broadcaster_id, event_type, entry=entry))
    return Result(data={"entry": entry.admin_view()})


def complete(ctx: Ctx, payload: dict[str, Any]) -> Result:
    """queue.complete {entry_id}: done; a redemption of ours is marked FULFILLED on Twitch."""
    return _finish(ctx, payload, "completed", FULFILLED, "queue.completed")


def cancel(ctx: Ctx, payload: dict[str, Any]) -> Result:
    """queue.cancel {entry_id}: removed; a redemption of ours is CANCELED on Twitch (points refunded)."""
    return _finish(ctx, payload, "canceled", CANCELED, "queue.canceled")


def pick(ctx: Ctx, payload: dict[str, Any]) -> Result:
    """queue.pick {count?, random?}: the next (or random) waiting entries become `picked`."""
    count = integer(payload, "count", 1, 100, default=1)
    rnd = flag(payload, "random")
    waiting = repo.queue.waiting(ctx.tx, ctx.broadcaster_id)
    if not waiting:
        return Result("rejected", "no_waiting_entries")
    chosen = random.sample(waiting, min(count, len(waiting))) if rnd else waiting[:count]
    chosen.sort(key=lambda e: e.position or 0)
    entries = [repo.queue.mark_picked(ctx.tx, ctx.broadcaster_id, e.id) for e in chosen]
    ctx.emit(entry_event(ctx.broadcaster_id, "queue.picked", entries=entries))
    chat = settings.current(ctx).doc["chat"]
    if chat["enabled"] and chat["announce_picked"]:
        for e in entries:
            if e.user_login:  # a Twitch viewer (an admin's walk-in may not be in chat at all)
                ctx.say(settings.render(chat["replies"]["picked"], user=e.user_name), reply=False)
    return Result(data={"entries": [e.admin_view() for e in entries]})


def move(ctx: Ctx, payload: dict[str, Any]) -> Result:
    """queue.move {entry_id, position}: to a 1-based position; the others keep their order."""
    found = _active_entry(ctx, payload)
    active = repo.queue.active(ctx.tx, ctx.broadcaster_id)
    position = integer(payload, "position", 1, len(active))
    ids = [e.id for e in active if e.id != found.id]
    ids.insert(position - 1, found.id)
    repo.queue.set_positions(ctx.tx, ctx.broadcaster_id, ids)
    entries = repo.queue.active(ctx.tx, ctx.broadcaster_id)
    moved = next(e for e in entries if e.id == found.id)
    # A delta: the pages move it themselves (a whole 1,000-entry queue would be a 300 KB frame per move).
    ctx.emit(entry_event(ctx.broadcaster_id, "queue.moved", entry=moved, from_position=found.position))
    return Result(data={"entry": moved.admin_view()})


def clear(ctx: Ctx, payload: dict[str, Any]) -> Result:
    """queue.clear {mode: cancel | complete}: every entry leaves, refunded or fulfilled."""
    mode = payload.get("mode")
    if mode not in ("cancel", "complete"):
        raise malformed('payload.mode must be "cancel" or "complete"')
    status, action = ("canceled", CANCELED) if mode == "cancel" else ("completed", FULFILLED)
    cleared = []
    now = iso_now()
    for found in reversed(repo.queue.active(ctx.tx, ctx.broadcaster_id)):  # from the back: no gaps to close
        helix = tell_twitch(ctx, found.id, found.reward_id, found.redemption_id, action)
        entry = repo.queue.finish(ctx.tx, ctx.broadcaster_id, found.id, status, helix, now)
        assert entry is not None
        cleared.append(entry)
    cleared.reverse()
    ctx.emit(
        entry_event(
            ctx.broadcaster_id, "queue.cleared", mode=mode, entry_ids=[e.id for e in cleared], count=len(cleared)
        )
    )
    return Result(data={"entries": [e.admin_view() for e in cleared]})


COMMANDS: dict[str, Handler] = {
    "queue.enqueue": enqueue,
    "queue.complete": complete,
    "queue.cancel": cancel,
    "queue.pick": pick,
    "queue.move": move,
    "queue.clear": clear,
}
ADMIN_COMMANDS = frozenset(COMMANDS)
