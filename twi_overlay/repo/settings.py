"""Each broadcaster's settings document (JSON) and its version."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from twi_overlay.repo.sqlfiles import load
from twi_overlay.store.tx import Tx

Q = load("settings")


@dataclass(frozen=True, slots=True)
class StoredSettings:
    version: int
    doc: dict[str, Any]


def get(tx: Tx, broadcaster_id: str) -> StoredSettings | None:
    row = tx.one(Q.get, {"broadcaster_id": broadcaster_id})
    return None if row is None else StoredSettings(row["version"], orjson.loads(row["doc"]))


def insert(tx: Tx, broadcaster_id: str, doc: dict[str, Any]) -> None:
    """Version 1, unless the broadcaster has settings already."""
    tx.execute(
        Q.insert,
        {"broadcaster_id": broadcaster_id, "version": 1, "doc": orjson.dumps(doc).decode(), "now": time.time()},
    )


def update(tx: Tx, broadcaster_id: str, version: int, doc: dict[str, Any]) -> bool:
    """Replace the document if it is still at `version` (optimistic concurrency); True when replaced."""
    cur = tx.execute(
        Q.update,
        {"broadcaster_id": broadcaster_id, "version": version, "doc": orjson.dumps(doc).decode(), "now": time.time()},
    )
    return cur.rowcount == 1


def chat_enabled(tx: Tx) -> list[str]:
    """The broadcasters whose chat commands are on."""
    return [str(row["broadcaster_id"]) for row in tx.all(Q.chat_enabled, {})]
