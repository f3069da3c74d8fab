"""Named counters: counter.increment {name, by?}, counter.set {name, value}, counter.reset {name}."""

from __future__ import annotations

from typing import Any

from twi_overlay import repo
from twi_overlay.domain.context import Ctx, Handler, Result
from twi_overlay.domain.events import public_event
from twi_overlay.domain.payload import counter_name, integer


def _changed(ctx: Ctx, name: str, value: int) -> Result:
    ctx.emit(public_event(ctx.broadcaster_id, "counter.updated", {"name": name, "value": value}))
    return Result(data={"name": name, "value": value})


def increment(ctx: Ctx, payload: dict[str, Any]) -> Result:
    name = counter_name(payload)
    by = integer(payload, "by", -1_000_000, 1_000_000, default=1)
    return _changed(ctx, name, repo.counters.add(ctx.tx, ctx.broadcaster_id, name, by))


def set_value(ctx: Ctx, payload: dict[str, Any]) -> Result:
    name = counter_name(payload)
    value = integer(payload, "value", -(10**12), 10**12)
    return _changed(ctx, name, repo.counters.set_value(ctx.tx, ctx.broadcaster_id, name, value))


def reset(ctx: Ctx, payload: dict[str, Any]) -> Result:
    name = counter_name(payload)
    return _changed(ctx, name, repo.counters.set_value(ctx.tx, ctx.broadcaster_id, name, 0))


COMMANDS: dict[str, Handler] = {"counter.increment": increment, "counter.set": set_value, "counter.reset": reset}
ADMIN_COMMANDS = frozenset(COMMANDS)
