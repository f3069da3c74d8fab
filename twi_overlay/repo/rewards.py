"""Channel-point rewards as we know them, and whether they are ours (`managed`) to fulfil or refund."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from twi_overlay.repo.sqlfiles import load
from twi_overlay.store.tx import Tx

Q = load("rewards")


@dataclass(frozen=True, slots=True)
class Reward:
    id: str
    title: str
    cost: int
    is_enabled: bool
    is_paused: bool
    managed: bool | None  # None until Twitch told us; True = created by our client id
    removed: bool


def _reward(row: sqlite3.Row) -> Reward:
    return Reward(
        row["id"],
        row["title"],
        row["cost"],
        bool(row["is_enabled"]),
        bool(row["is_paused"]),
        None if row["managed"] is None else bool(row["managed"]),
        bool(row["removed"]),
    )


def get(tx: Tx, broadcaster_id: str, reward_id: str) -> Reward | None:
    row = tx.one(Q.get, {"broadcaster_id": broadcaster_id, "id": reward_id})
    return None if row is None else _reward(row)


def listed(tx: Tx, broadcaster_id: str) -> list[Reward]:
    """The broadcaster's rewards that still exist on Twitch, by title."""
    return [_reward(r) for r in tx.all(Q.all, {"broadcaster_id": broadcaster_id})]


def upsert(
    tx: Tx,
    broadcaster_id: str,
    reward_id: str,
    *,
    title: str = "",
    cost: int = 0,
    is_enabled: bool = True,
    is_paused: bool = False,
    removed: bool = False,
) -> Reward:
    row = tx.one(
        Q.upsert,
        {
            "broadcaster_id": broadcaster_id,
            "id": reward_id,
            "title": title,
            "cost": cost,
            "is_enabled": int(is_enabled),
            "is_paused": int(is_paused),
            "removed": int(removed),
            "now": time.time(),
        },
    )
    assert row is not None
    return _reward(row)


def set_managed(tx: Tx, broadcaster_id: str, reward_id: str, managed: bool) -> None:
    tx.execute(
        Q.set_managed, {"broadcaster_id": broadcaster_id, "id": reward_id, "managed": int(managed), "now": time.time()}
    )


def set_paused(tx: Tx, broadcaster_id: str, reward_id: str, paused: bool) -> None:
    tx.execute(
        Q.set_paused, {"broadcaster_id": broadcaster_id, "id": reward_id, "paused": int(paused), "now": time.time()}
    )


def managed_ids(tx: Tx, broadcaster_id: str) -> set[str]:
    return {r["id"] for r in tx.all(Q.managed_ids, {"broadcaster_id": broadcaster_id})}


def set_removed(tx: Tx, broadcaster_id: str, reward_id: str) -> None:
    tx.execute(Q.set_removed, {"broadcaster_id": broadcaster_id, "id": reward_id, "now": time.time()})


def updated_since(tx: Tx, broadcaster_id: str, since: float) -> set[str]:
    return {r["id"] for r in tx.all(Q.updated_since, {"broadcaster_id": broadcaster_id, "since": since})}


def stored_before(tx: Tx, broadcaster_id: str, before: float) -> set[str]:
    """Rewards we believe still exist on Twitch, as we knew them at `before`."""
    return {r["id"] for r in tx.all(Q.stored_before, {"broadcaster_id": broadcaster_id, "before": before})}
