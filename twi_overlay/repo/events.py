"""event_raw: every accepted EventSub delivery, stored before it is acknowledged, processed after."""

from __future__ import annotations

import time
from dataclasses import dataclass

from twi_overlay.repo.sqlfiles import load
from twi_overlay.store.bulk import UniqueInsert
from twi_overlay.store.tx import Tx

Q = load("events")
# Webhook deliveries go through the writer's bulk path (store/bulk.py); a row is
# [message_id, message_type, subscription_type, broadcaster_id, payload (str), received_at].
STORE_DELIVERY = UniqueInsert(Q.insert_raw_many, Q.ids_of_message_ids)


@dataclass(frozen=True, slots=True)
class StoredDelivery:
    id: int  # arrival order
    message_id: str
    message_type: str  # notification | revocation
    subscription_type: str
    broadcaster_id: str | None
    payload: bytes
    received_at: float


def insert_one(
    tx: Tx,
    message_id: str,
    message_type: str,
    subscription_type: str,
    broadcaster_id: str | None,
    payload: bytes,
    received_at: float,
) -> None:
    """One delivery inside a larger job (the development mock); a known message id is skipped."""
    tx.execute(
        Q.insert_raw,
        {
            "message_id": message_id,
            "message_type": message_type,
            "subscription_type": subscription_type,
            "broadcaster_id": broadcaster_id,
            "payload": payload,
            "received_at": received_at,
        },
    )


def pending(tx: Tx, after: int, limit: int) -> list[StoredDelivery]:
    """Unprocessed deliveries with an id above `after`, in arrival order."""
    return [
        StoredDelivery(
            r["id"],
            r["message_id"],
            r["message_type"],
            r["subscription_type"],
            r["broadcaster_id"],
            bytes(r["payload"]),
            r["received_at"],
        )
        for r in tx.all(Q.pending_raw, {"after": after, "limit": limit})
    ]


def mark_processed(tx: Tx, delivery_id: int, outcome: str) -> None:
    tx.execute(Q.mark_processed, {"id": delivery_id, "now": time.time(), "outcome": outcome[:500]})


def count_pending(tx: Tx) -> int:
    return int(tx.value(Q.count_pending))
