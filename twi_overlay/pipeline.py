"""After the ACK: stored deliveries → normalise → policy → commands → events, in arrival order.

Processing a delivery and marking it processed happen in the same transaction, so each stored
delivery is processed exactly once, even across a crash (unprocessed rows are picked up at start).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson

from twi_overlay import metrics, repo
from twi_overlay.db import Database, DatabaseClosed, Tx
from twi_overlay.domain.commands import execute
from twi_overlay.domain.errors import CommandError
from twi_overlay.domain.events import admin_event
from twi_overlay.eventsub import RECONSENT_REASONS, RESUBSCRIBE_REASONS, normalise
from twi_overlay.sqlfiles import sql
from twi_overlay.tap import Tap

log = logging.getLogger(__name__)
# While webhook deliveries are arriving, processing works in small chunks and rests BUSY_REST_FACTOR
# times as long as each chunk took (a quarter of the writer's time at most): the database thread's
# Python work holds the GIL, every millisecond it holds it is a millisecond a webhook ACK can wait, and
# its writes are what the checkpoint then has to sync. When deliveries stop, it runs flat out.
# Measured at 200 deliveries/s over a 20,000 backlog on a 180,000-row database (server-side ACKs over
# 5 ms in 10 s): factor 1 → 15 and 10, factor 2 → 4 and 8, factor 3 → 3, 2 and 2, while the backlog
# still drains at ~400/s, twice that stream.
BUSY_REST_FACTOR = 3
CHUNK_BUSY = 2
CHUNK_IDLE = 32
BUSY_WINDOW_SECS = 0.25
GATHER_SECS = 0.01
YIELD_SECS = 0.05  # before each chunk, wait up to this long for the writer to have no ACK writes queued
# When the writer never went idle in YIELD_SECS, deliveries arrive faster than it commits them: every
# processing write would ride in (and slow) a batch of ACKs. Processing then takes a small chunk per
# SATURATED_REST_SECS so it still moves, and catches up at full speed once the flood ends.
SATURATED_REST_SECS = 0.25


def _mark(tx: Tx, row_id: int, outcome: str) -> None:
    tx.execute(sql.events.mark_processed, {"id": row_id, "now": time.time(), "outcome": outcome[:500]})


def _revocation(tx: Tx, doc: dict[str, Any]) -> str:
    sub = doc["subscription"]
    reason = str(sub.get("status") or "unknown")
    condition = sub.get("condition") if isinstance(sub.get("condition"), dict) else {}
    bid = condition.get("broadcaster_user_id")
    metrics.EVENTSUB_REVOCATIONS.labels(reason).inc()
    if isinstance(sub.get("id"), str):
        tx.execute(
            sql.subscriptions.upsert,
            {
                "id": sub["id"],
                "broadcaster_id": bid,
                "type": str(sub.get("type") or ""),
                "version": str(sub.get("version") or "1"),
                "status": reason,
                "resubscribe": int(reason in RESUBSCRIBE_REASONS),
                "now": time.time(),
            },
        )
    if isinstance(bid, str) and repo.broadcaster_exists(tx, bid):
        if reason in RECONSENT_REASONS:
            repo.set_needs_reconsent(tx, bid, True)
        tx.emit(
            admin_event(
                bid,
                "subscription.revoked",
                {
                    "id": sub.get("id"),
                    "type": sub.get("type"),
                    "reason": reason,
                    "resubscribe": reason in RESUBSCRIBE_REASONS,
                    "needs_reconsent": reason in RECONSENT_REASONS,
                },
            )
        )
    return f"revoked: {reason}"


def process_row(tx: Tx, row: dict[str, Any]) -> str:
    """One stored delivery, processed and marked in the caller's transaction. Returns the outcome."""
    doc = orjson.loads(row["payload"])
    if row["message_type"] == "revocation":
        outcome = _revocation(tx, doc)
    else:
        norm = normalise(row["subscription_type"], doc)
        if norm is None:
            outcome = "ignored: unhandled type"
        elif not repo.broadcaster_exists(tx, norm.broadcaster_id):
            outcome = "ignored: unknown broadcaster"
        else:
            result = execute(
                tx,
                norm.broadcaster_id,
                norm.command,
                norm.payload,
                source="twitch",
                idempotency_key=norm.idempotency_key,
            )
            if isinstance(result, CommandError):
                outcome = f"error: {result.code}"
            elif result.get("replayed"):
                outcome = "duplicate: already processed"
            else:
                outcome = result["result"] + (f": {result['reason']}" if result.get("reason") else "")
    _mark(tx, row["id"], outcome)
    return outcome


def _pending(tx: Tx, after: int) -> list[dict[str, Any]]:
    return [dict(r) for r in tx.all(sql.events.pending_raw, {"after": after, "limit": 256})]


def _mark_failed(tx: Tx, row_id: int, error: str) -> None:
    _mark(tx, row_id, f"error: {error}")


class Processor:
    def __init__(self, db: Database, tap: Tap):
        self.db = db
        self.tap = tap
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self.processed = 0
        self.last_ingress = 0.0

    def wake(self) -> None:
        self._wake.set()

    def ingress(self) -> None:
        """A delivery was just acknowledged: wake up, and be gentle while more keep coming."""
        self.last_ingress = time.monotonic()
        self._wake.set()

    def _busy(self) -> bool:
        return time.monotonic() - self.last_ingress < BUSY_WINDOW_SECS

    async def drain(self) -> None:
        """Wait until every stored delivery has been processed (tests, shutdown)."""
        while True:
            self._idle.clear()
            self._wake.set()
            await self._idle.wait()
            pending = await self.db.read(lambda tx: tx.value(sql.events.count_pending))
            if not pending:
                return

    async def _process(self, row: dict[str, Any]) -> None:
        started = time.perf_counter()
        sub_type = row["subscription_type"]
        try:
            outcome = await self.db.write(process_row, row)
            ok = not outcome.startswith("error")
        except DatabaseClosed:
            raise
        except Exception as exc:  # a bug must not wedge the queue: record it and move on
            log.exception("processing a stored delivery failed", extra={"event_raw_id": row["id"]})
            outcome = f"error: {type(exc).__name__}"
            ok = False
            await self.db.write(_mark_failed, row["id"], type(exc).__name__)
        self.processed += 1
        metrics.EVENTSUB_PROCESSED.labels(sub_type, outcome.split(":")[0]).inc()
        self.tap.record(
            "process",
            sub_type,
            row["broadcaster_id"],
            row["message_id"],
            ok=ok,
            ms=(time.perf_counter() - started) * 1000,
            outcome=outcome,
        )

    async def run(self) -> None:
        after = 0  # ids are committed in increasing order by the single writer: a cursor suffices
        while True:
            self._wake.clear()
            rows = await self.db.read(_pending, after)
            if not rows:
                self._idle.set()
                await self._wake.wait()
                if self._busy():
                    # Deliveries are streaming in: let a few more gather so one read serves many.
                    await asyncio.sleep(GATHER_SECS)
                continue
            i = 0
            while i < len(rows):
                busy = self._busy()
                chunk = rows[i : i + (CHUNK_BUSY if busy else CHUNK_IDLE)]
                i += len(chunk)
                writer_idle = await self.db.wait_idle(YIELD_SECS)
                started = time.monotonic()
                await asyncio.gather(*(self._process(r) for r in chunk))
                after = chunk[-1]["id"]
                if busy:
                    rest = BUSY_REST_FACTOR * (time.monotonic() - started)
                    await asyncio.sleep(rest if writer_idle else SATURATED_REST_SECS)
