"""Background jobs run from cleanup_ctx: the TTL + checkpoint loop (runbook §11, SPEC §9)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web

from twi_overlay import keys, metrics
from twi_overlay.background import background
from twi_overlay.db import Database, Tx
from twi_overlay.sqlfiles import sql

log = logging.getLogger(__name__)
TTL_TABLES = (("event_raw", sql.maintenance.ttl_event_raw), ("command_log", sql.maintenance.ttl_command_log))


def _delete_chunk(tx: Tx, query: str, cutoff: float) -> int:
    return tx.execute(query, {"cutoff": cutoff}).rowcount


async def maintenance(db: Database, retention_hours: float = 72.0, now: float | None = None) -> dict[str, Any]:
    """Delete expired log rows in chunks of 1000 (each its own short transaction, yielding between
    them so webhook writes interleave), then `wal_checkpoint(TRUNCATE)`."""
    cutoff = (now if now is not None else time.time()) - retention_hours * 3600
    deleted: dict[str, int] = {}
    chunks = 0
    for table, query in TTL_TABLES:
        total = 0
        while True:
            n = await db.write(_delete_chunk, query, cutoff)
            total += n
            chunks += 1
            if n:
                metrics.DB_TTL_DELETED.labels(table).inc(n)
            if n < 1000:
                break
            await asyncio.sleep(0)
        deleted[table] = total
    await db.write(lambda tx: tx.execute(sql.maintenance.expire_sessions, {"now": time.time()}).rowcount)
    started = time.perf_counter()
    busy, wal_frames, checkpointed = await db.checkpoint()
    seconds = time.perf_counter() - started
    metrics.DB_CHECKPOINT_SECONDS.observe(seconds)
    result = {
        "deleted": deleted,
        "chunks": chunks,
        "checkpoint": {
            "busy": busy,
            "wal_frames": wal_frames,
            "checkpointed": checkpointed,
            "seconds": round(seconds, 6),
        },
    }
    log.info("maintenance done", extra={"deleted": deleted, "checkpoint_busy": busy})
    return result


async def run_maintenance(app: web.Application) -> dict[str, Any]:
    return await maintenance(app[keys.DB], app[keys.SETTINGS].retention_hours)


async def ttl_loop(app: web.Application) -> None:
    interval = app[keys.SETTINGS].ttl_interval_secs
    while True:
        await asyncio.sleep(interval)
        try:
            await run_maintenance(app)
        except asyncio.CancelledError:
            raise
        except Exception:
            metrics.DB_MAINTENANCE_FAILURES.inc()
            log.exception("maintenance run failed; will try again next interval")


ttl_ctx = background("ttl-checkpoint", ttl_loop)
