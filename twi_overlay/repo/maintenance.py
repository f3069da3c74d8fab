"""The TTL: log rows older than the retention go, in chunks, each chunk its own short transaction."""

from __future__ import annotations

from dataclasses import dataclass

from twi_overlay.repo.sqlfiles import load
from twi_overlay.store.tx import Tx

Q = load("maintenance")
CHUNK = 1000  # rows a chunk reads or deletes at most


@dataclass(frozen=True, slots=True)
class Chunk:
    deleted: int
    resume_after: int | None  # where the next chunk starts; None when nothing expired is left


def delete_deliveries(tx: Tx, cutoff: float, after: int = 0) -> Chunk:
    """Processed deliveries received before `cutoff`, among the next CHUNK ids after `after`; an
    unprocessed one is work we owe and stays. Ids follow arrival, so the walk ends at the first window
    that reaches a delivery younger than `cutoff`."""
    window = tx.all(Q.ttl_event_raw_window, {"after": after, "limit": CHUNK})
    if not window:
        return Chunk(0, None)
    last = window[-1]["id"]
    deleted = tx.execute(Q.ttl_event_raw, {"after": after, "last": last, "cutoff": cutoff}).rowcount
    reached_the_present = len(window) < CHUNK or window[-1]["received_at"] >= cutoff
    return Chunk(deleted, None if reached_the_present else last)


def delete_commands(tx: Tx, cutoff: float, after: int = 0) -> Chunk:
    """Up to CHUNK command log rows written before `cutoff` (by the index on ts; `after` is unused)."""
    deleted = tx.execute(Q.ttl_command_log, {"cutoff": cutoff}).rowcount
    return Chunk(deleted, 0 if deleted == CHUNK else None)


def expire_sessions(tx: Tx, now: float) -> int:
    return tx.execute(Q.expire_sessions, {"now": now}).rowcount
