"""chatters: the roles each viewer's badges showed when last seen in a channel's chat, and when they
last ran a chat command (the per-viewer cooldown)."""

from __future__ import annotations

from dataclasses import dataclass

from twi_overlay.repo.sqlfiles import load
from twi_overlay.store.tx import Tx

Q = load("chatters")


@dataclass(frozen=True, slots=True)
class Chatter:
    user_id: str
    user_login: str
    roles: frozenset[str]  # subscriber, vip, moderator, broadcaster
    seen_at: float
    last_command_at: float | None


def seen(tx: Tx, broadcaster_id: str, user_id: str, user_login: str, roles: frozenset[str], now: float) -> None:
    tx.execute(
        Q.seen,
        {
            "broadcaster_id": broadcaster_id,
            "user_id": user_id,
            "user_login": user_login,
            "roles": " ".join(sorted(roles)),
            "now": now,
        },
    )


def get(tx: Tx, broadcaster_id: str, user_id: str) -> Chatter | None:
    row = tx.one(Q.get, {"broadcaster_id": broadcaster_id, "user_id": user_id})
    if row is None:
        return None
    roles = frozenset(row["roles"].split())
    return Chatter(row["user_id"], row["user_login"], roles, row["seen_at"], row["last_command_at"])


def commanded(tx: Tx, broadcaster_id: str, user_id: str, now: float) -> None:
    tx.execute(Q.commanded, {"broadcaster_id": broadcaster_id, "user_id": user_id, "now": now})


PRUNE_CHUNK = 1000


def prune(tx: Tx, before: float) -> int:
    """Forget up to PRUNE_CHUNK viewers not seen in chat since `before` (their roles are stale by then)."""
    return tx.execute(Q.prune, {"before": before}).rowcount
