"""EventSub subscriptions as we last saw them, and which ones a revocation asks us to re-create."""

from __future__ import annotations

import time
from dataclasses import dataclass

from twi_overlay.repo.sqlfiles import load
from twi_overlay.store.tx import Tx

Q = load("subscriptions")


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    id: str
    type: str
    version: str
    status: str
    resubscribe: bool


def record(
    tx: Tx, sub_id: str, broadcaster_id: str | None, type_: str, version: str, status: str, resubscribe: bool
) -> None:
    tx.execute(
        Q.upsert,
        {
            "id": sub_id,
            "broadcaster_id": broadcaster_id,
            "type": type_,
            "version": version,
            "status": status,
            "resubscribe": int(resubscribe),
            "now": time.time(),
        },
    )


def of_broadcaster(tx: Tx, broadcaster_id: str) -> list[SubscriptionRecord]:
    return [
        SubscriptionRecord(r["id"], r["type"], r["version"], r["status"], bool(r["resubscribe"]))
        for r in tx.all(Q.of_broadcaster, {"broadcaster_id": broadcaster_id})
    ]


def count_resubscribe(tx: Tx) -> int:
    return int(tx.value(Q.count_resubscribe))


def clear_resubscribe(tx: Tx) -> None:
    tx.execute(Q.clear_resubscribe)
