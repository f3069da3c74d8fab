"""Queue entries: the active queue (dense 1-based positions) and the history of finished entries."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from twi_overlay.repo.sqlfiles import load
from twi_overlay.store.tx import Tx

Q = load("queue")
# What the overlay (a public page) may show of an entry; docs/api.md, "Audiences".
OVERLAY_FIELDS = ("id", "position", "status", "user_name", "user_input", "enqueued_at")


@dataclass(frozen=True, slots=True)
class QueueEntry:
    id: int
    position: int | None  # None once the entry has left the queue
    status: str  # waiting | picked | completed | canceled
    user_id: str | None
    user_login: str | None
    user_name: str
    user_input: str
    reward_id: str | None
    redemption_id: str | None
    source: str
    enqueued_at: str
    ended_at: str | None
    helix_status: str | None  # what Twitch was told: None, pending, fulfilled, refunded, failed: <reason>

    @property
    def active(self) -> bool:
        return self.position is not None

    def admin_view(self) -> dict[str, Any]:
        """The whole entry, as the admin page and the API show it (ended_at only once it has ended)."""
        view = {
            "id": self.id,
            "position": self.position,
            "status": self.status,
            "user_id": self.user_id,
            "user_login": self.user_login,
            "user_name": self.user_name,
            "user_input": self.user_input,
            "reward_id": self.reward_id,
            "redemption_id": self.redemption_id,
            "source": self.source,
            "enqueued_at": self.enqueued_at,
            "helix_status": self.helix_status,
        }
        if self.ended_at is not None:
            view["ended_at"] = self.ended_at
        return view

    def overlay_view(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in OVERLAY_FIELDS}


def _entry(row: sqlite3.Row) -> QueueEntry:
    return QueueEntry(
        row["id"],
        row["position"],
        row["status"],
        row["user_id"],
        row["user_login"],
        row["user_name"],
        row["user_input"],
        row["reward_id"],
        row["redemption_id"],
        row["source"],
        row["enqueued_at"],
        row["ended_at"],
        row["helix_status"],
    )


def _maybe(row: sqlite3.Row | None) -> QueueEntry | None:
    return None if row is None else _entry(row)


def active(tx: Tx, broadcaster_id: str) -> list[QueueEntry]:
    """The queue in order."""
    return [_entry(r) for r in tx.all(Q.active, {"broadcaster_id": broadcaster_id})]


def get(tx: Tx, broadcaster_id: str, entry_id: int) -> QueueEntry | None:
    return _maybe(tx.one(Q.get, {"broadcaster_id": broadcaster_id, "id": entry_id}))


def by_redemption(tx: Tx, broadcaster_id: str, redemption_id: str) -> QueueEntry | None:
    return _maybe(tx.one(Q.by_redemption, {"broadcaster_id": broadcaster_id, "redemption_id": redemption_id}))


def length(tx: Tx, broadcaster_id: str) -> int:
    return int(tx.value(Q.count_active, {"broadcaster_id": broadcaster_id}))


def user_key(user_id: str | None, user_name: str) -> str:
    """Who a viewer is for the per-user limit: their Twitch id, or their name for an admin's walk-in."""
    return user_id if user_id else "name:" + user_name.lower()


def count_for_user(tx: Tx, broadcaster_id: str, key: str) -> int:
    return int(tx.value(Q.count_active_for_user, {"broadcaster_id": broadcaster_id, "user_key": key}))


def insert(
    tx: Tx,
    broadcaster_id: str,
    *,
    user_name: str,
    user_input: str,
    source: str,
    now_iso: str,
    user_id: str | None = None,
    user_login: str | None = None,
    reward_id: str | None = None,
    redemption_id: str | None = None,
    priority: int = 0,
) -> QueueEntry:
    """A new waiting entry at the end of the queue; with priority 1, ahead of everyone waiting without
    it (queue.priority)."""
    place = None
    if priority:
        place = int(tx.value(Q.priority_place, {"broadcaster_id": broadcaster_id}))
        if place > length(tx, broadcaster_id):
            place = None  # the end anyway
    row = tx.one(
        Q.insert,
        {
            "broadcaster_id": broadcaster_id,
            "now": now_iso,
            "user_id": user_id,
            "user_login": user_login,
            "user_name": user_name,
            "user_input": user_input,
            "reward_id": reward_id,
            "redemption_id": redemption_id,
            "source": source,
            "priority": priority,
        },
    )
    assert row is not None
    if place is None:
        return _entry(row)
    tx.execute(Q.make_room, {"broadcaster_id": broadcaster_id, "position": place})
    tx.execute(Q.set_position, {"broadcaster_id": broadcaster_id, "id": row["id"], "position": place})
    moved = tx.one(Q.get, {"broadcaster_id": broadcaster_id, "id": row["id"]})
    assert moved is not None
    return _entry(moved)


def finish(
    tx: Tx, broadcaster_id: str, entry_id: int, status: str, helix_status: str | None, now_iso: str
) -> QueueEntry | None:
    """The entry leaves the queue (completed or canceled); the ones behind it move up. None if it was
    not in the queue."""
    current = tx.one(Q.get, {"broadcaster_id": broadcaster_id, "id": entry_id})
    if current is None or current["position"] is None:
        return None
    row = tx.one(
        Q.finish,
        {
            "broadcaster_id": broadcaster_id,
            "id": entry_id,
            "status": status,
            "helix_status": helix_status,
            "now": now_iso,
        },
    )
    tx.execute(Q.close_gap, {"broadcaster_id": broadcaster_id, "position": current["position"]})
    return _maybe(row)


def waiting(tx: Tx, broadcaster_id: str) -> list[QueueEntry]:
    """Entries not picked yet, in queue order."""
    return [_entry(r) for r in tx.all(Q.all_waiting, {"broadcaster_id": broadcaster_id})]


def mark_picked(tx: Tx, broadcaster_id: str, entry_id: int) -> QueueEntry:
    row = tx.one(Q.mark_picked, {"broadcaster_id": broadcaster_id, "id": entry_id})
    assert row is not None
    return _entry(row)


def set_positions(tx: Tx, broadcaster_id: str, ordered_ids: Sequence[int]) -> None:
    tx.many(
        Q.set_position,
        [
            {"broadcaster_id": broadcaster_id, "id": eid, "position": pos}
            for pos, eid in enumerate(ordered_ids, start=1)
        ],
    )


def set_helix_status(tx: Tx, entry_id: int, status: str | None) -> QueueEntry | None:
    return _maybe(tx.one(Q.set_helix_status, {"id": entry_id, "helix_status": status}))


def history(tx: Tx, broadcaster_id: str, limit: int = 50) -> list[QueueEntry]:
    """Finished entries, newest first."""
    return [_entry(r) for r in tx.all(Q.history, {"broadcaster_id": broadcaster_id, "limit": limit})]
