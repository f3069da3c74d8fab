"""The command log: one row per command (kept 72 h), with the answer an Idempotency-Key replays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from twi_overlay.repo.sqlfiles import load
from twi_overlay.store.tx import Tx

Q = load("commands")


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """What a command answered the first time, for a repeated idempotency key."""

    id: int
    result: str  # ok | rejected | error
    reason: str | None
    response: dict[str, Any] | None
    type: str
    payload: Any  # as the first request sent it

    def same_request(self, type_: str, payload: Any) -> bool:
        return self.type == type_ and self.payload == payload


@dataclass(frozen=True, slots=True)
class LoggedCommand:
    id: int
    ts: float
    type: str
    source: str
    payload: Any
    result: str
    reason: str | None
    actor: str | None  # who ran it (a moderator's or the streamer's name), when known


def by_idempotency_key(tx: Tx, broadcaster_id: str, key: str) -> StoredAnswer | None:
    row = tx.one(Q.by_idempotency_key, {"broadcaster_id": broadcaster_id, "key": key})
    if row is None:
        return None
    response = orjson.loads(row["response"]) if row["response"] else None
    return StoredAnswer(row["id"], row["result"], row["reason"], response, row["type"], orjson.loads(row["payload"]))


def log(
    tx: Tx,
    broadcaster_id: str,
    *,
    type_: str,
    source: str,
    payload: Any,
    result: str,
    reason: str | None,
    idempotency_key: str | None,
    response: Any,
    ts: float,
    actor_id: str | None = None,
    actor_name: str | None = None,
) -> int:
    """Write a command's log row; returns its id."""
    return int(
        tx.value(
            Q.insert,
            {
                "broadcaster_id": broadcaster_id,
                "ts": ts,
                "type": type_,
                "source": source,
                "payload": orjson.dumps(payload).decode(),
                "result": result,
                "reason": reason,
                "idempotency_key": idempotency_key,
                "response": orjson.dumps(response).decode() if response is not None else None,
                "actor_id": actor_id,
                "actor_name": actor_name,
            },
        )
    )


def recent(tx: Tx, broadcaster_id: str, limit: int) -> list[LoggedCommand]:
    return [
        LoggedCommand(
            r["id"],
            r["ts"],
            r["type"],
            r["source"],
            orjson.loads(r["payload"]),
            r["result"],
            r["reason"],
            r["actor_name"],
        )
        for r in tx.all(Q.recent, {"broadcaster_id": broadcaster_id, "limit": limit})
    ]
