"""channel_moderators: who moderates each channel, as Twitch says (twitch/moderators.py keeps it)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from twi_overlay.repo.sqlfiles import load
from twi_overlay.store.tx import Tx

Q = load("moderators")


@dataclass(frozen=True, slots=True)
class Moderator:
    user_id: str
    user_login: str
    user_name: str


def add(tx: Tx, broadcaster_id: str, mod: Moderator) -> None:
    tx.execute(
        Q.add,
        {
            "broadcaster_id": broadcaster_id,
            "user_id": mod.user_id,
            "user_login": mod.user_login,
            "user_name": mod.user_name,
            "now": time.time(),
        },
    )


def remove(tx: Tx, broadcaster_id: str, user_id: str) -> bool:
    return tx.execute(Q.remove, {"broadcaster_id": broadcaster_id, "user_id": user_id}).rowcount > 0


def of_broadcaster(tx: Tx, broadcaster_id: str) -> list[Moderator]:
    rows = tx.all(Q.of_broadcaster, {"broadcaster_id": broadcaster_id})
    return [Moderator(r["user_id"], r["user_login"], r["user_name"]) for r in rows]


def is_moderator(tx: Tx, broadcaster_id: str, user_id: str) -> bool:
    return tx.one(Q.is_moderator, {"broadcaster_id": broadcaster_id, "user_id": user_id}) is not None


def replace(tx: Tx, broadcaster_id: str, mods: list[Moderator]) -> tuple[list[str], list[str]]:
    """The channel's whole list, as Twitch gave it: (user ids added, user ids removed)."""
    before = {m.user_id for m in of_broadcaster(tx, broadcaster_id)}
    now = {m.user_id for m in mods}
    for mod in mods:
        add(tx, broadcaster_id, mod)
    for gone in before - now:
        remove(tx, broadcaster_id, gone)
    return sorted(now - before), sorted(before - now)


def channels_of(tx: Tx, user_id: str) -> list[tuple[str, str, str]]:
    """(broadcaster id, login, display name) of every channel here this user moderates."""
    rows = tx.all(Q.channels_of, {"user_id": user_id})
    return [(r["id"], r["login"], r["display_name"]) for r in rows]
