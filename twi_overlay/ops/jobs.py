"""The TTL + checkpoint job: log rows older than the retention go, then the WAL is truncated
(docs/operations.md §11). Run by a loop every TTL_INTERVAL_SECS, by POST /api/maintenance and by
`twi-overlay maintenance`."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web

from twi_overlay import keys, repo
from twi_overlay.ops import metrics
from twi_overlay.store.database import Database

log = logging.getLogger(__name__)
TTL_TABLES = (("event_raw", repo.maintenance.delete_deliveries), ("command_log", repo.maintenance.delete_commands))
CHATTER_RETENTION_SECS = 30 * 24 * 3600  # the roles a viewer's badges showed, kept a month after they last chatted


async def maintenance(db: Database, retention_hours: float = 72.0, now: float | None = None) -> dict[str, Any]:
    """Delete expired log rows in chunks of at most 1000 rows read or deleted (each its own short
    transaction, yielding between them so webhook writes interleave), then `wal_checkpoint(TRUNCATE)`."""
    cutoff = (now if now is not None else time.time()) - retention_hours * 3600
    deleted: dict[str, int] = {}
    chunks = 0
    for table, delete_chunk in TTL_TABLES:
        total = 0
        after: int | None = 0
        while after is not None:
            chunk = await db.write(delete_chunk, cutoff, after)
            total += chunk.deleted
            chunks += 1
            if chunk.deleted:
                metrics.DB_TTL_DELETED.labels(table).inc(chunk.deleted)
            after = chunk.resume_after
            await asyncio.sleep(0)
        deleted[table] = total
    before = (now if now is not None else time.time()) - CHATTER_RETENTION_SECS
    deleted["chatters"] = 0
    while True:
        pruned = await db.write(repo.chatters.prune, before)
        deleted["chatters"] += pruned
        chunks += 1
        if pruned < repo.chatters.PRUNE_CHUNK:
            break
        await asyncio.sleep(0)
    await db.write(repo.maintenance.expire_sessions, time.time())
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
