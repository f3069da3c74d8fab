"""The TTL: log rows older than the retention go, in chunks, each chunk its own short transaction."""

from __future__ import annotations

from twi_overlay.repo.sqlfiles import load
from twi_overlay.store.tx import Tx

Q = load("maintenance")
CHUNK = 1000  # rows per DELETE (sql/maintenance.sql)


def delete_deliveries(tx: Tx, cutoff: float) -> int:
    """Up to CHUNK processed deliveries received before `cutoff`; an unprocessed one is work we owe."""
    return tx.execute(Q.ttl_event_raw, {"cutoff": cutoff}).rowcount


def delete_commands(tx: Tx, cutoff: float) -> int:
    """Up to CHUNK command log rows written before `cutoff`."""
    return tx.execute(Q.ttl_command_log, {"cutoff": cutoff}).rowcount


def expire_sessions(tx: Tx, now: float) -> int:
    return tx.execute(Q.expire_sessions, {"now": now}).rowcount
