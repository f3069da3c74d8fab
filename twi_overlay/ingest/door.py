"""Where a WebSocket (conduit) notification enters: stored exactly like a webhook delivery (keyed by its
message id, a known id is a duplicate), then the processor is woken. Only the tap and the metrics know
which transport it came through.

The webhook can answer 5xx when our database fails, and Twitch delivers again; a WebSocket frame is
never sent twice on purpose. So the door retries the write with backoff while the socket waits (its
frames queue behind, then TCP holds Twitch back), and when it still fails, asks for a catch-up so the
redemption is fetched from Helix once the database is back."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from twi_overlay.ingest.eventsub import broadcaster_of
from twi_overlay.ops import metrics
from twi_overlay.ops.tap import Tap
from twi_overlay.pipeline import Processor
from twi_overlay.repo.events import STORE_DELIVERY
from twi_overlay.store.database import Database, DatabaseClosed

log = logging.getLogger(__name__)
STORE_TRIES = 8  # 0.05 s doubling: about 6 s in all before giving the event to the catch-up


@functools.lru_cache(maxsize=256)  # types come from Twitch's short list
def ingress_counter(type_: str) -> Any:
    """eventsub_ingress_total{type}, looked up once per type (both doors count there)."""
    return metrics.EVENTSUB_INGRESS.labels(type_)


class Door:
    def __init__(
        self,
        db: Database,
        tap: Tap,
        processor: Processor,
        lost: Callable[[], None],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.sleep = sleep
        self.db = db
        self.tap = tap
        self.processor = processor
        self.lost = lost

    async def accept(
        self, message_id: str, message_type: str, sub_type: str, payload: dict[str, Any], transport: str
    ) -> bool:
        """Store one delivery; True when it was new."""
        started = time.perf_counter()
        broadcaster_id = broadcaster_of(payload)
        row = [message_id, message_type, sub_type, broadcaster_id, orjson.dumps(payload).decode(), time.time()]
        delay = 0.05
        for attempt in range(STORE_TRIES):
            try:
                stored = await self.db.insert_unique(STORE_DELIVERY, row)
                break
            except DatabaseClosed:
                raise
            except Exception as exc:
                if attempt == STORE_TRIES - 1:
                    metrics.EVENTSUB_STORE_FAILED.labels(transport).inc()
                    log.error(
                        "storing a delivery failed; the catch-up will fetch it from Twitch",
                        extra={"message_id": message_id, "subscription_type": sub_type, "error": type(exc).__name__},
                    )
                    self.tap.record("ingress", sub_type, broadcaster_id, message_id, ok=False, reason="store_failed")
                    self.lost()
                    return False
                await self.sleep(delay)
                delay *= 2
        ms = (time.perf_counter() - started) * 1000
        if not stored:
            metrics.EVENTSUB_DUPLICATE.inc()
            self.tap.record("dedupe", sub_type, broadcaster_id, message_id, ok=True, ms=ms, duplicate=True)
            return False
        ingress_counter(sub_type if message_type == "notification" else "revocation").inc()
        metrics.EVENTSUB_NOTIFICATIONS.labels(transport).inc()
        self.tap.record("ingress", sub_type, broadcaster_id, message_id, ok=True, ms=ms, transport=transport)
        self.processor.ingress()
        return True
