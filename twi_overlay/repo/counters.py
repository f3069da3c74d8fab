"""Named counters per broadcaster."""

from __future__ import annotations

import time

from twi_overlay.repo.sqlfiles import load
from twi_overlay.store.tx import Tx

Q = load("counters")


def values(tx: Tx, broadcaster_id: str) -> dict[str, int]:
    """Every counter of the broadcaster by name."""
    return {r["name"]: r["value"] for r in tx.all(Q.all, {"broadcaster_id": broadcaster_id})}


def add(tx: Tx, broadcaster_id: str, name: str, by: int) -> int:
    """Add `by` (a new counter starts at 0); returns the new value."""
    return int(tx.value(Q.add, {"broadcaster_id": broadcaster_id, "name": name, "by": by, "now": time.time()}))


def set_value(tx: Tx, broadcaster_id: str, name: str, value: int) -> int:
    return int(tx.value(Q.set, {"broadcaster_id": broadcaster_id, "name": name, "value": value, "now": time.time()}))
