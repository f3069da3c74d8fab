"""A channel's moderators, from Twitch's channel.moderator.add / .remove events (the whole list comes
from Get Moderators: twitch/moderators.py). Admin pages see the change as `moderators.changed`; a
moderator who is removed loses their admin sessions in the same transaction, and their open streams
right after it commits (stream/access.py)."""

from __future__ import annotations

from typing import Any

from twi_overlay import repo
from twi_overlay.domain.context import Ctx, Handler, Result
from twi_overlay.domain.events import Event, admin_event
from twi_overlay.domain.outcomes import malformed
from twi_overlay.repo.moderators import Moderator
from twi_overlay.store.tx import Tx


def _user(payload: dict[str, Any]) -> Moderator:
    user_id = payload.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        raise malformed("payload.user_id is required")
    return Moderator(user_id, str(payload.get("user_login") or ""), str(payload.get("user_name") or ""))


def changed(broadcaster_id: str, added: list[Moderator], removed: list[Moderator]) -> Event:
    return admin_event(
        broadcaster_id,
        "moderators.changed",
        {
            "added": [m.user_login for m in added],
            "removed": [m.user_login for m in removed],
            "removed_ids": [m.user_id for m in removed],
        },
    )


def add(ctx: Ctx, payload: dict[str, Any]) -> Result:
    mod = _user(payload)
    repo.moderators.add(ctx.tx, ctx.broadcaster_id, mod)
    ctx.emit(changed(ctx.broadcaster_id, [mod], []))
    return Result()


def remove(ctx: Ctx, payload: dict[str, Any]) -> Result:
    mod = _user(payload)
    repo.auth.delete_moderator_sessions(ctx.tx, ctx.broadcaster_id, mod.user_id)
    if repo.moderators.remove(ctx.tx, ctx.broadcaster_id, mod.user_id):
        ctx.emit(changed(ctx.broadcaster_id, [], [mod]))
    return Result()


def replace(tx: Tx, broadcaster_id: str, mods: list[Moderator]) -> tuple[list[str], list[str]]:
    """The channel's whole list, as Get Moderators gave it: (user ids added, user ids removed). The
    removed lose their sessions, as with channel.moderator.remove."""
    before = {m.user_id: m for m in repo.moderators.of_broadcaster(tx, broadcaster_id)}
    added, removed = repo.moderators.replace(tx, broadcaster_id, mods)
    for user_id in removed:
        repo.auth.delete_moderator_sessions(tx, broadcaster_id, user_id)
    if added or removed:
        now = {m.user_id: m for m in mods}
        tx.emit(changed(broadcaster_id, [now[i] for i in added], [before[i] for i in removed]))
    return added, removed


COMMANDS: dict[str, Handler] = {"moderator.add": add, "moderator.remove": remove}
# What a moderator signed in to the admin page may run: the queue and the counters, and opening or
# closing the queue; never keys, settings, rewards, the Twitch connection or maintenance.
MODERATOR_COMMANDS = frozenset(
    {
        "queue.enqueue",
        "queue.complete",
        "queue.cancel",
        "queue.pick",
        "queue.move",
        "counter.increment",
        "counter.set",
        "counter.reset",
    }
)


def moderator_may_run(type_: str, payload: Any) -> bool:
    if type_ in MODERATOR_COMMANDS:
        return True
    if type_ == "settings.update" and isinstance(payload, dict):  # only {"queue": {"open": ...}}
        patch = payload.get("settings")
        return isinstance(patch, dict) and list(patch) == ["queue"] and _only_open(patch["queue"])
    return False


def _only_open(section: Any) -> bool:
    return isinstance(section, dict) and list(section) == ["open"]


ADMIN_COMMANDS: frozenset[str] = frozenset()
