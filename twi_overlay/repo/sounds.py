"""overlay_sounds: the file a broadcaster picked for the overlay's new-entry sound (one each)."""

from __future__ import annotations

import time

from twi_overlay.repo.sqlfiles import load
from twi_overlay.store.tx import Tx

Q = load("sounds")


def store(tx: Tx, broadcaster_id: str, sha256: str, content_type: str, data: bytes) -> None:
    """Keep this file as the broadcaster's sound; their previous one goes."""
    tx.execute(
        Q.insert,
        {
            "sha256": sha256,
            "broadcaster_id": broadcaster_id,
            "content_type": content_type,
            "data": data,
            "now": time.time(),
        },
    )
    tx.execute(Q.replace_of_broadcaster, {"broadcaster_id": broadcaster_id, "sha256": sha256})


def get(tx: Tx, sha256: str) -> tuple[str, bytes] | None:
    row = tx.one(Q.get, {"sha256": sha256})
    return None if row is None else (str(row["content_type"]), bytes(row["data"]))
