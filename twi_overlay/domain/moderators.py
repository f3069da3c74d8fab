"""A channel's moderators, from Twitch's channel.moderator.add / .remove events (the whole list comes
from Get Moderators: twitch/moderators.py). Admin pages see the change as `moderators.changed`."""

from __future__ import annotations

from typing import Any

from twi_overlay import repo
from twi_overlay.domain.context import Ctx, Handler, Result
from twi_overlay.domain.events import admin_event
from twi_overlay.domain.outcomes import malformed
from twi_overlay.repo.moderators import Moderator


def _user(payload: dict[str, Any]) -> Moderator:
    user_id = payload.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        raise malformed("payload.user_id is required")
    return Moderator(user_id, str(payload.get("user_login") or ""), str(payload.get("user_name") or ""))


def add(ctx: Ctx, payload: dict[str, Any]) -> Result:
    mod = _user(payload)
    repo.moderators.add(ctx.tx, ctx.broadcaster_id, mod)
    ctx.emit(admin_event(ctx.broadcaster_id, "moderators.changed", {"added": [mod.user_login], "removed": []}))
    return Result()


def remove(ctx: Ctx, payload: dict[str, Any]) -> Result:
    mod = _user(payload)
    if repo.moderators.remove(ctx.tx, ctx.broadcaster_id, mod.user_id):
        ctx.emit(admin_event(ctx.broadcaster_id, "moderators.changed", {"added": [], "removed": [mod.user_login]}))
    return Result()


COMMANDS: dict[str, Handler] = {"moderator.add": add, "moderator.remove": remove}
ADMIN_COMMANDS: frozenset[str] = frozenset()
