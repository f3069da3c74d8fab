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

from twi_overlay import pacing, repo
from twi_overlay.domain import chat
from twi_overlay.domain.events import admin_event
from twi_overlay.domain.outcomes import Refused
from twi_overlay.domain.runner import execute
from twi_overlay.ingest.eventsub import MOCK_PREFIX, RECONSENT_REASONS, RESUBSCRIBE_REASONS, normalise
from twi_overlay.ops import metrics
from twi_overlay.ops.tap import Tap
from twi_overlay.repo.events import StoredDelivery
from twi_overlay.store.database import Database, DatabaseClosed
from twi_overlay.store.sqlite import transient
from twi_overlay.store.tx import Tx

log = logging.getLogger(__name__)
PENDING_READ = 256  # stored deliveries read at once
# After a transient database error (store/sqlite.py), the deliveries not yet processed are tried
# again, in order, after this long, doubling while the error lasts.
RETRY_MIN_SECS = 0.5
RETRY_MAX_SECS = 30.0


def _revocation(tx: Tx, doc: dict[str, Any], received_at: float) -> str:
    sub = doc["subscription"]
    reason = str(sub.get("status") or "unknown")
    condition = sub.get("condition") if isinstance(sub.get("condition"), dict) else {}
    bid = condition.get("broadcaster_user_id")
    metrics.EVENTSUB_REVOCATIONS.labels(reason).inc()
    if isinstance(sub.get("id"), str):
        repo.subscriptions.record(
            tx,
            sub["id"],
            bid if isinstance(bid, str) else None,
            str(sub.get("type") or ""),
            str(sub.get("version") or "1"),
            reason,
            reason in RESUBSCRIBE_REASONS,
        )
    if isinstance(bid, str) and repo.broadcasters.exists(tx, bid):
        # A revocation received before the current grant was stored is about an older grant.
        reconsent = reason in RECONSENT_REASONS and repo.broadcasters.revoke_grant(tx, bid, received_at)
        tx.emit(
            admin_event(
                bid,
                "subscription.revoked",
                {
                    "id": sub.get("id"),
                    "type": sub.get("type"),
                    "reason": reason,
                    "resubscribe": reason in RESUBSCRIBE_REASONS,
                    "needs_reconsent": reconsent,
                },
            )
        )
    return f"revoked: {reason}"


def process_row(tx: Tx, row: StoredDelivery) -> str:
    """One stored delivery, processed and marked in the caller's transaction. Returns the outcome."""
    doc = orjson.loads(row.payload)
    if row.message_type == "revocation":
        outcome = _revocation(tx, doc, row.received_at)
    else:
        norm = normalise(row.subscription_type, doc)
        if norm is None:
            outcome = "ignored: unhandled type"
        elif not repo.broadcasters.exists(tx, norm.broadcaster_id):
            outcome = "ignored: unknown broadcaster"
        else:
            if norm.command == "chat.message":  # a command, or only what the chatter's badges say
                result = chat.handle(tx, norm.broadcaster_id, norm.payload, norm.idempotency_key or "")
            else:
                result = execute(
                    tx,
                    norm.broadcaster_id,
                    norm.command,
                    norm.payload,
                    source="mock" if row.message_id.startswith(MOCK_PREFIX) else "twitch",
                    idempotency_key=norm.idempotency_key,
                )
            if isinstance(result, str):
                outcome = result
            elif isinstance(result, Refused):
                outcome = f"error: {result.code}"
            elif result.replayed:
                outcome = "duplicate: already processed"
            else:
                outcome = result.result + (f": {result.reason}" if result.reason else "")
    repo.events.mark_processed(tx, row.id, outcome)
    return outcome


def _mark_failed(tx: Tx, row_id: int, error: str) -> None:
    repo.events.mark_processed(tx, row_id, f"error: {error}")


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
        return time.monotonic() - self.last_ingress < pacing.PROCESS_BUSY_WINDOW_SECS

    async def drain(self) -> None:
        """Wait until every stored delivery has been processed (tests, shutdown)."""
        while True:
            self._idle.clear()
            self._wake.set()
            await self._idle.wait()
            if not await self.db.read(repo.events.count_pending):
                return

    async def _process(self, row: StoredDelivery) -> bool:
        """Process one delivery; False when a transient database error means it must be tried again."""
        started = time.perf_counter()
        sub_type = row.subscription_type
        try:
            outcome = await self.db.write(process_row, row)
            ok = not outcome.startswith("error")
        except DatabaseClosed:
            raise
        except Exception as exc:
            if transient(exc):  # not marked: it is processed once the database answers again
                metrics.EVENTSUB_PROCESS_RETRIES.inc()
                log.warning("processing waits for the database", extra={"event_raw_id": row.id, "error": str(exc)})
                return False
            # A bug or a payload no retry will fix: record it and move on, so it cannot wedge the queue.
            log.exception("processing a stored delivery failed", extra={"event_raw_id": row.id})
            outcome = f"error: {type(exc).__name__}"
            ok = False
            try:
                await self.db.write(_mark_failed, row.id, type(exc).__name__)
            except DatabaseClosed:
                raise
            except Exception:
                log.exception("marking a delivery failed did not work; it will be tried again")
                return False
        self.processed += 1
        metrics.EVENTSUB_PROCESSED.labels(sub_type, outcome.split(":")[0]).inc()
        self.tap.record(
            "process",
            sub_type,
            row.broadcaster_id,
            row.message_id,
            ok=ok,
            ms=(time.perf_counter() - started) * 1000,
            outcome=outcome,
        )
        return True

    async def run(self) -> None:
        after = 0  # ids are committed in increasing order by the single writer: a cursor suffices
        retry_in = RETRY_MIN_SECS
        while True:
            self._wake.clear()
            rows = await self.db.read(repo.events.pending, after, PENDING_READ)
            if not rows:
                self._idle.set()
                await self._wake.wait()
                if self._busy():
                    # Deliveries are streaming in: let a few more gather so one read serves many.
                    await asyncio.sleep(pacing.PROCESS_GATHER_SECS)
                continue
            i = 0
            while i < len(rows):
                busy = self._busy()
                chunk = rows[i : i + (pacing.PROCESS_CHUNK_BUSY if busy else pacing.PROCESS_CHUNK_IDLE)]
                i += len(chunk)
                writer_idle = await self.db.wait_idle(pacing.PROCESS_YIELD_SECS)
                started = time.monotonic()
                done = await asyncio.gather(*(self._process(r) for r in chunk))
                if not all(done):  # read again from the first one left, after a pause
                    after = min(r.id for r, ok in zip(chunk, done, strict=True) if not ok) - 1
                    await asyncio.sleep(retry_in)
                    retry_in = min(retry_in * 2, RETRY_MAX_SECS)
                    break
                retry_in = RETRY_MIN_SECS
                after = chunk[-1].id
                if busy:
                    rest = pacing.PROCESS_BUSY_REST_FACTOR * (time.monotonic() - started)
                    await asyncio.sleep(rest if writer_idle else pacing.PROCESS_SATURATED_REST_SECS)
