"""Command handlers. Each runs inside one write transaction (a job of db.Database.write), writes one
command_log row and emits the events it caused. Nothing here knows about HTTP.

`execute()` is the single entry point; it returns the JSON-able answer `{result, reason?, events}` or
raises CommandError (after logging the refused command as `error`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from twi_overlay import metrics, repo
from twi_overlay.db import Tx
from twi_overlay.domain.errors import CommandError
from twi_overlay.domain.events import Event, admin_event, overlay_entry, public_event, queue_event
from twi_overlay.domain.policy import decide
from twi_overlay.domain.settings import (
    COUNTER_NAME,
    default_settings,
    full_settings,
    merge_settings,
    public_settings,
)

ADMIN_COMMANDS = frozenset(
    {
        "queue.enqueue",
        "queue.complete",
        "queue.cancel",
        "queue.pick",
        "queue.move",
        "queue.clear",
        "counter.increment",
        "counter.set",
        "counter.reset",
        "settings.update",
    }
)
MAX_NAME = 64
MAX_NOTE = 500


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Ctx:
    tx: Tx
    broadcaster_id: str
    source: str
    events: list[Event] = field(default_factory=list)

    @property
    def settings(self) -> tuple[int, dict[str, Any]]:
        return load_settings(self.tx, self.broadcaster_id)

    def emit(self, event: Event) -> None:
        self.events.append(event)


@dataclass
class Result:
    result: str = "ok"
    reason: str | None = None
    data: dict[str, Any] | None = None


def load_settings(tx: Tx, broadcaster_id: str) -> tuple[int, dict[str, Any]]:
    found = repo.settings(tx, broadcaster_id)
    if found is None:
        repo.insert_settings(tx, broadcaster_id, default_settings())
        return 1, default_settings()
    return found


# -- payload checks -----------------------------------------------------------------------------
def _obj(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise CommandError(400, "invalid_payload", "payload must be an object")
    return payload


def _int(payload: dict[str, Any], name: str, lo: int, hi: int, default: int | None = None) -> int:
    value = payload.get(name, default)
    if value is None:
        raise CommandError(400, "invalid_payload", f"payload.{name} is required")
    if type(value) is not int:
        raise CommandError(400, "invalid_payload", f"payload.{name} must be an integer")
    if not lo <= value <= hi:
        raise CommandError(422, "invalid_value", f"payload.{name}: must be between {lo} and {hi}")
    return value


def _str(payload: dict[str, Any], name: str, max_len: int, required: bool = True) -> str:
    value = payload.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise CommandError(400, "invalid_payload", f"payload.{name} must be a string")
    value = value.strip()
    if required and not value:
        raise CommandError(422, "invalid_value", f"payload.{name}: must not be empty")
    if len(value) > max_len:
        raise CommandError(422, "invalid_value", f"payload.{name}: at most {max_len} characters")
    return value


def _counter_name(payload: dict[str, Any]) -> str:
    name = payload.get("name")
    if not isinstance(name, str):
        raise CommandError(400, "invalid_payload", "payload.name must be a string")
    if not COUNTER_NAME.match(name):
        raise CommandError(422, "invalid_value", "payload.name: 1-64 characters of A-Z a-z 0-9 _ . -")
    return name


def _active_entry(ctx: Ctx, payload: dict[str, Any]) -> dict[str, Any]:
    entry_id = payload.get("entry_id")
    if type(entry_id) is not int:
        raise CommandError(400, "invalid_payload", "payload.entry_id must be an integer")
    found = repo.queue_entry(ctx.tx, ctx.broadcaster_id, entry_id)
    if found is None or found["position"] is None:
        raise CommandError(404, "unknown_entry", f"no entry {entry_id} in the queue")
    return found


# -- Helix intents --------------------------------------------------------------------------------
def _wants_helix(ctx: Ctx, reward_id: str | None, redemption_id: str | None) -> bool:
    """A Twitch redemption of a reward that is (or may be) ours: tell Twitch the outcome."""
    if not reward_id or not redemption_id:
        return False
    reward = repo.reward(ctx.tx, ctx.broadcaster_id, reward_id)
    return reward is None or reward["managed"] is not False


def _record_helix(
    ctx: Ctx, entry: dict[str, Any] | None, reward_id: str | None, redemption_id: str | None, action: str
) -> str | None:
    if not _wants_helix(ctx, reward_id, redemption_id):
        return None
    assert reward_id is not None and redemption_id is not None
    repo.enqueue_helix_job(ctx.tx, ctx.broadcaster_id, entry["id"] if entry else None, reward_id, redemption_id, action)
    return "pending"


# -- handlers ---------------------------------------------------------------------------------------
def queue_enqueue(ctx: Ctx, payload: dict[str, Any]) -> Result:
    if ctx.source == "admin":
        fields: dict[str, Any] = {
            "user_name": _str(payload, "user_name", MAX_NAME),
            "user_input": _str(payload, "note", MAX_NOTE, required=False),
        }
    else:
        fields = {
            "user_id": payload.get("user_id"),
            "user_login": payload.get("user_login"),
            "user_name": str(payload.get("user_name") or "?")[:MAX_NAME],
            "user_input": str(payload.get("note") or "")[:MAX_NOTE],
            "reward_id": payload.get("reward_id"),
            "redemption_id": payload.get("redemption_id"),
        }
    fields["source"] = ctx.source
    _, doc = ctx.settings
    rules = doc["queue"]
    key = repo.user_key(fields.get("user_id"), fields["user_name"])
    reason = None
    if not rules["open"]:
        reason = "queue_closed"
    elif repo.queue_length(ctx.tx, ctx.broadcaster_id) >= rules["max_length"]:
        reason = "queue_full"
    elif repo.queue_count_for_user(ctx.tx, ctx.broadcaster_id, key) >= rules["per_user_limit"]:
        reason = "per_user_limit"
    if reason is not None:
        refund = _record_helix(ctx, None, fields.get("reward_id"), fields.get("redemption_id"), "CANCELED")
        return Result("rejected", reason, {"refund": refund} if refund else None)
    entry = repo.insert_entry(ctx.tx, ctx.broadcaster_id, fields, iso_now())
    ctx.emit(queue_event(ctx.broadcaster_id, "queue.enqueued", {"entry": entry}))
    return Result(data={"entry": entry})


def _finish(ctx: Ctx, payload: dict[str, Any], status: str, action: str, event_type: str) -> Result:
    found = _active_entry(ctx, payload)
    helix = _record_helix(ctx, found, found["reward_id"], found["redemption_id"], action)
    entry = repo.finish_entry(ctx.tx, ctx.broadcaster_id, found["id"], status, helix, iso_now())
    assert entry is not None
    ctx.emit(queue_event(ctx.broadcaster_id, event_type, {"entry": entry}))
    return Result(data={"entry": entry})


def queue_complete(ctx: Ctx, payload: dict[str, Any]) -> Result:
    return _finish(ctx, payload, "completed", "FULFILLED", "queue.completed")


def queue_cancel(ctx: Ctx, payload: dict[str, Any]) -> Result:
    return _finish(ctx, payload, "canceled", "CANCELED", "queue.canceled")


def queue_pick(ctx: Ctx, payload: dict[str, Any]) -> Result:
    count = _int(payload, "count", 1, 100, default=1)
    rnd = payload.get("random", False)
    if type(rnd) is not bool:
        raise CommandError(400, "invalid_payload", "payload.random must be true or false")
    waiting = repo.all_waiting(ctx.tx, ctx.broadcaster_id)
    if not waiting:
        return Result("rejected", "no_waiting_entries")
    chosen = random.sample(waiting, min(count, len(waiting))) if rnd else waiting[:count]
    chosen.sort(key=lambda e: e["position"])
    entries = [repo.mark_picked(ctx.tx, ctx.broadcaster_id, e["id"]) for e in chosen]
    ctx.emit(queue_event(ctx.broadcaster_id, "queue.picked", {"entries": entries}))
    return Result(data={"entries": entries})


def queue_move(ctx: Ctx, payload: dict[str, Any]) -> Result:
    found = _active_entry(ctx, payload)
    active = repo.queue(ctx.tx, ctx.broadcaster_id)
    position = _int(payload, "position", 1, len(active))
    ids = [e["id"] for e in active if e["id"] != found["id"]]
    ids.insert(position - 1, found["id"])
    repo.set_positions(ctx.tx, ctx.broadcaster_id, ids)
    entries = repo.queue(ctx.tx, ctx.broadcaster_id)
    moved = next(e for e in entries if e["id"] == found["id"])
    ctx.emit(queue_event(ctx.broadcaster_id, "queue.moved", {"entry": moved, "entries": entries}))
    return Result(data={"entry": moved})


def queue_clear(ctx: Ctx, payload: dict[str, Any]) -> Result:
    mode = payload.get("mode")
    if mode not in ("cancel", "complete"):
        raise CommandError(400, "invalid_payload", 'payload.mode must be "cancel" or "complete"')
    status, action = ("canceled", "CANCELED") if mode == "cancel" else ("completed", "FULFILLED")
    cleared = []
    now = iso_now()
    for found in reversed(repo.queue(ctx.tx, ctx.broadcaster_id)):  # from the back: no gaps to close
        helix = _record_helix(ctx, found, found["reward_id"], found["redemption_id"], action)
        cleared.append(repo.finish_entry(ctx.tx, ctx.broadcaster_id, found["id"], status, helix, now))
    cleared.reverse()
    ctx.emit(queue_event(ctx.broadcaster_id, "queue.cleared", {"mode": mode, "entries": cleared}))
    return Result(data={"entries": cleared})


def _counter_event(ctx: Ctx, name: str, value: int) -> Result:
    ctx.emit(public_event(ctx.broadcaster_id, "counter.updated", {"name": name, "value": value}))
    return Result(data={"name": name, "value": value})


def counter_increment(ctx: Ctx, payload: dict[str, Any]) -> Result:
    name = _counter_name(payload)
    by = _int(payload, "by", -1_000_000, 1_000_000, default=1)
    return _counter_event(ctx, name, repo.counter_add(ctx.tx, ctx.broadcaster_id, name, by))


def counter_set(ctx: Ctx, payload: dict[str, Any]) -> Result:
    name = _counter_name(payload)
    value = _int(payload, "value", -(10**12), 10**12)
    return _counter_event(ctx, name, repo.counter_set(ctx.tx, ctx.broadcaster_id, name, value))


def counter_reset(ctx: Ctx, payload: dict[str, Any]) -> Result:
    name = _counter_name(payload)
    return _counter_event(ctx, name, repo.counter_set(ctx.tx, ctx.broadcaster_id, name, 0))


def settings_update(ctx: Ctx, payload: dict[str, Any]) -> Result:
    version = payload.get("version")
    if type(version) is not int:
        raise CommandError(400, "invalid_payload", "payload.version must be an integer")
    if "settings" not in payload:
        raise CommandError(400, "invalid_payload", "payload.settings is required")
    current_version, doc = ctx.settings
    if version != current_version:
        raise CommandError(
            409, "version_conflict", f"settings are at version {current_version}, not {version}; reload and retry"
        )
    merged = merge_settings(doc, payload["settings"])
    if not repo.update_settings(ctx.tx, ctx.broadcaster_id, version, merged):
        raise CommandError(409, "version_conflict", "settings changed meanwhile; reload and retry")
    new_version = version + 1
    full = full_settings(new_version, merged)
    ctx.emit(
        Event(
            ctx.broadcaster_id,
            "settings.updated",
            {"settings": full},
            {"settings": public_settings(new_version, merged)},
        )
    )
    return Result(data={"settings": full})


def redemption_add(ctx: Ctx, payload: dict[str, Any]) -> Result:
    """From Twitch (webhook, start-up reconcile) or the dev mock: the policy decides."""
    if payload.get("reward_id") and repo.reward(ctx.tx, ctx.broadcaster_id, payload["reward_id"]) is None:
        repo.upsert_reward(
            ctx.tx,
            ctx.broadcaster_id,
            {
                "id": payload["reward_id"],
                "title": payload.get("reward_title") or "",
                "cost": payload.get("reward_cost") or 0,
            },
        )
    _, doc = ctx.settings
    command = decide(doc, payload)
    if command is None:
        return Result("ok", "ignored: reward not bound")
    return HANDLERS[command.type](ctx, command.payload)


def redemption_update(ctx: Ctx, payload: dict[str, Any]) -> Result:
    """Twitch says the redemption was fulfilled/canceled elsewhere: the entry leaves the queue."""
    status = payload.get("status")
    rid = payload.get("redemption_id")
    found = repo.entry_by_redemption(ctx.tx, ctx.broadcaster_id, rid) if rid else None
    if found is None or found["position"] is None or status not in ("fulfilled", "canceled"):
        return Result("ok", "ignored: no matching entry in the queue")
    new_status, helix, event_type = (
        ("completed", "fulfilled", "queue.completed")
        if status == "fulfilled"
        else ("canceled", "refunded", "queue.canceled")
    )
    entry = repo.finish_entry(ctx.tx, ctx.broadcaster_id, found["id"], new_status, helix, iso_now())
    assert entry is not None
    ctx.emit(queue_event(ctx.broadcaster_id, event_type, {"entry": entry}))
    return Result(data={"entry": entry})


def stream_status(live: bool) -> Callable[[Ctx, dict[str, Any]], Result]:
    def handler(ctx: Ctx, payload: dict[str, Any]) -> Result:
        repo.set_live(ctx.tx, ctx.broadcaster_id, live)
        ctx.emit(public_event(ctx.broadcaster_id, "stream.status", {"live": live}))
        return Result()

    return handler


def reward_sync(ctx: Ctx, payload: dict[str, Any]) -> Result:
    reward = repo.upsert_reward(ctx.tx, ctx.broadcaster_id, payload, removed=bool(payload.get("removed")))
    ctx.emit(admin_event(ctx.broadcaster_id, "reward.updated", {"reward": reward}))
    return Result(data={"reward": reward})


HANDLERS: dict[str, Callable[[Ctx, dict[str, Any]], Result]] = {
    "queue.enqueue": queue_enqueue,
    "queue.complete": queue_complete,
    "queue.cancel": queue_cancel,
    "queue.pick": queue_pick,
    "queue.move": queue_move,
    "queue.clear": queue_clear,
    "counter.increment": counter_increment,
    "counter.set": counter_set,
    "counter.reset": counter_reset,
    "settings.update": settings_update,
    "redemption.add": redemption_add,
    "redemption.update": redemption_update,
    "stream.online": stream_status(True),
    "stream.offline": stream_status(False),
    "reward.sync": reward_sync,
}


def _wire(events: list[Event]) -> list[dict[str, Any]]:
    return [{"type": e.type, "data": e.data} for e in events]


def execute(
    tx: Tx, broadcaster_id: str, type_: str, payload: Any, source: str = "admin", idempotency_key: str | None = None
) -> dict[str, Any] | CommandError:
    """Run one command in the caller's write transaction.

    Returns the answer `{result, reason?, data?, events}`, or the CommandError that refused it. A refusal
    is returned, not raised, so that its `error` row in command_log commits with the transaction.
    """
    if idempotency_key is not None:
        previous = repo.command_by_key(tx, broadcaster_id, idempotency_key)
        if previous is not None:
            if previous["response"] is None:  # the first attempt was refused: refuse the same way
                return CommandError(*_split_error(previous["reason"]))
            return {**previous["response"], "replayed": True}
    ctx = Ctx(tx, broadcaster_id, source)
    ts = time.time()
    handler = HANDLERS.get(type_) if (source != "admin" or type_ in ADMIN_COMMANDS) else None
    tx.execute("SAVEPOINT command")
    try:
        if handler is None:
            raise CommandError(400, "unknown_command", f"unknown command type {type_!r}")
        outcome = handler(ctx, _obj(payload))
    except CommandError as exc:
        tx.execute("ROLLBACK TO command")
        tx.execute("RELEASE command")
        reason = f"{exc.status} {exc.code}: {exc.message}"
        log_id = repo.log_command(
            tx, broadcaster_id, type_, source, payload, "error", reason, idempotency_key, None, ts
        )
        _emit_log(tx, broadcaster_id, log_id, type_, source, "error", reason, ts)
        metrics.POLICY_COMMANDS.labels(type_ if handler else "unknown", "error").inc()
        return exc
    tx.execute("RELEASE command")
    response: dict[str, Any] = {"result": outcome.result}
    if outcome.reason:
        response["reason"] = outcome.reason
    if outcome.data:
        response["data"] = outcome.data
    response["events"] = _wire(ctx.events)
    log_id = repo.log_command(
        tx, broadcaster_id, type_, source, payload, outcome.result, outcome.reason, idempotency_key, response, ts
    )
    for event in ctx.events:
        tx.emit(event)
    _emit_log(tx, broadcaster_id, log_id, type_, source, outcome.result, outcome.reason, ts)
    metrics.POLICY_COMMANDS.labels(type_, outcome.result).inc()
    return response


def _emit_log(
    tx: Tx, broadcaster_id: str, log_id: int, type_: str, source: str, result: str, reason: str | None, ts: float
) -> None:
    tx.emit(
        admin_event(
            broadcaster_id,
            "command.logged",
            {"id": log_id, "ts": ts, "type": type_, "source": source, "result": result, "reason": reason},
        )
    )


def _split_error(reason: str | None) -> tuple[int, str, str]:
    try:
        head, message = (reason or "").split(": ", 1)
        status, code = head.split(" ", 1)
        return int(status), code, message
    except ValueError:
        return 400, "invalid_command", reason or "refused"


def snapshot(tx: Tx, broadcaster_id: str, audience: str = "admin") -> dict[str, Any]:
    """The state.replace payload / GET /api/state (SPEC §5)."""
    b = repo.broadcaster(tx, broadcaster_id) or {"id": broadcaster_id, "login": "", "display_name": "", "live": False}
    found = repo.settings(tx, broadcaster_id)
    version, doc = found if found is not None else (1, default_settings())
    entries = repo.queue(tx, broadcaster_id)
    state: dict[str, Any] = {
        "broadcaster": {"id": b["id"], "login": b["login"], "display_name": b["display_name"], "live": b["live"]},
        "queue": entries,
        "counters": repo.counters(tx, broadcaster_id),
        "settings": full_settings(version, doc),
    }
    if audience == "overlay":
        state["queue"] = [overlay_entry(e) for e in entries]
        state["settings"] = public_settings(version, doc)
    return state
