"""The repository layer: named queries from sql/ turned into plain dicts. No SQL lives elsewhere."""

from __future__ import annotations

import time
from typing import Any

import orjson

from twi_overlay.db import Tx
from twi_overlay.sqlfiles import sql

ENTRY_FIELDS = (
    "id",
    "position",
    "status",
    "user_id",
    "user_login",
    "user_name",
    "user_input",
    "reward_id",
    "redemption_id",
    "source",
    "enqueued_at",
)


def entry(row: Any) -> dict[str, Any]:
    out = {k: row[k] for k in ENTRY_FIELDS}
    out["helix_status"] = row["helix_status"]
    if row["ended_at"] is not None:
        out["ended_at"] = row["ended_at"]
    return out


# -- broadcasters -------------------------------------------------------------------------------
def broadcaster(tx: Tx, broadcaster_id: str) -> dict[str, Any] | None:
    row = tx.one(sql.broadcasters.get, {"id": broadcaster_id})
    if row is None:
        return None
    return {
        "id": row["id"],
        "login": row["login"],
        "display_name": row["display_name"],
        "live": bool(row["live"]),
        "needs_reconsent": bool(row["needs_reconsent"]),
    }


def broadcaster_exists(tx: Tx, broadcaster_id: str) -> bool:
    return tx.one(sql.broadcasters.exists, {"id": broadcaster_id}) is not None


def upsert_broadcaster(tx: Tx, broadcaster_id: str, login: str, display_name: str) -> None:
    tx.execute(
        sql.broadcasters.upsert,
        {"id": broadcaster_id, "login": login, "display_name": display_name, "now": time.time()},
    )


def set_live(tx: Tx, broadcaster_id: str, live: bool) -> None:
    tx.execute(sql.broadcasters.set_live, {"id": broadcaster_id, "live": int(live), "now": time.time()})


def set_needs_reconsent(tx: Tx, broadcaster_id: str, flag: bool) -> None:
    tx.execute(sql.broadcasters.set_needs_reconsent, {"id": broadcaster_id, "flag": int(flag), "now": time.time()})


# -- settings -----------------------------------------------------------------------------------
def settings(tx: Tx, broadcaster_id: str) -> tuple[int, dict[str, Any]] | None:
    row = tx.one(sql.settings.get, {"broadcaster_id": broadcaster_id})
    return None if row is None else (row["version"], orjson.loads(row["doc"]))


def insert_settings(tx: Tx, broadcaster_id: str, doc: dict[str, Any]) -> None:
    tx.execute(
        sql.settings.insert,
        {"broadcaster_id": broadcaster_id, "version": 1, "doc": orjson.dumps(doc).decode(), "now": time.time()},
    )


def update_settings(tx: Tx, broadcaster_id: str, version: int, doc: dict[str, Any]) -> bool:
    cur = tx.execute(
        sql.settings.update,
        {"broadcaster_id": broadcaster_id, "version": version, "doc": orjson.dumps(doc).decode(), "now": time.time()},
    )
    return cur.rowcount == 1


# -- queue --------------------------------------------------------------------------------------
def queue(tx: Tx, broadcaster_id: str) -> list[dict[str, Any]]:
    return [entry(r) for r in tx.all(sql.queue.active, {"broadcaster_id": broadcaster_id})]


def queue_entry(tx: Tx, broadcaster_id: str, entry_id: int) -> dict[str, Any] | None:
    row = tx.one(sql.queue.get, {"broadcaster_id": broadcaster_id, "id": entry_id})
    return None if row is None else entry(row)


def entry_by_redemption(tx: Tx, broadcaster_id: str, redemption_id: str) -> dict[str, Any] | None:
    row = tx.one(sql.queue.by_redemption, {"broadcaster_id": broadcaster_id, "redemption_id": redemption_id})
    return None if row is None else entry(row)


def queue_length(tx: Tx, broadcaster_id: str) -> int:
    return int(tx.value(sql.queue.count_active, {"broadcaster_id": broadcaster_id}))


def user_key(user_id: str | None, user_name: str) -> str:
    return user_id if user_id else "name:" + user_name.lower()


def queue_count_for_user(tx: Tx, broadcaster_id: str, key: str) -> int:
    return int(tx.value(sql.queue.count_active_for_user, {"broadcaster_id": broadcaster_id, "user_key": key}))


def insert_entry(tx: Tx, broadcaster_id: str, fields: dict[str, Any], now_iso: str) -> dict[str, Any]:
    params = {
        "broadcaster_id": broadcaster_id,
        "now": now_iso,
        "user_id": None,
        "user_login": None,
        "user_input": "",
        "reward_id": None,
        "redemption_id": None,
    }
    params.update(fields)
    return entry(tx.one(sql.queue.insert, params))


def finish_entry(
    tx: Tx, broadcaster_id: str, entry_id: int, status: str, helix_status: str | None, now_iso: str
) -> dict[str, Any] | None:
    current = tx.one(sql.queue.get, {"broadcaster_id": broadcaster_id, "id": entry_id})
    if current is None or current["position"] is None:
        return None
    row = tx.one(
        sql.queue.finish,
        {
            "broadcaster_id": broadcaster_id,
            "id": entry_id,
            "status": status,
            "helix_status": helix_status,
            "now": now_iso,
        },
    )
    tx.execute(sql.queue.close_gap, {"broadcaster_id": broadcaster_id, "position": current["position"]})
    return entry(row)


def next_waiting(tx: Tx, broadcaster_id: str, count: int) -> list[dict[str, Any]]:
    return [entry(r) for r in tx.all(sql.queue.next_waiting, {"broadcaster_id": broadcaster_id, "count": count})]


def all_waiting(tx: Tx, broadcaster_id: str) -> list[dict[str, Any]]:
    return [entry(r) for r in tx.all(sql.queue.all_waiting, {"broadcaster_id": broadcaster_id})]


def mark_picked(tx: Tx, broadcaster_id: str, entry_id: int) -> dict[str, Any]:
    return entry(tx.one(sql.queue.mark_picked, {"broadcaster_id": broadcaster_id, "id": entry_id}))


def set_positions(tx: Tx, broadcaster_id: str, ordered_ids: list[int]) -> None:
    tx.conn.executemany(
        sql.queue.set_position,
        [
            {"broadcaster_id": broadcaster_id, "id": eid, "position": pos}
            for pos, eid in enumerate(ordered_ids, start=1)
        ],
    )


def set_helix_status(tx: Tx, entry_id: int, status: str | None) -> dict[str, Any] | None:
    row = tx.one(sql.queue.set_helix_status, {"id": entry_id, "helix_status": status})
    return None if row is None else entry(row)


def history(tx: Tx, broadcaster_id: str, limit: int = 50) -> list[dict[str, Any]]:
    return [entry(r) for r in tx.all(sql.queue.history, {"broadcaster_id": broadcaster_id, "limit": limit})]


# -- counters -----------------------------------------------------------------------------------
def counters(tx: Tx, broadcaster_id: str) -> dict[str, int]:
    return {r["name"]: r["value"] for r in tx.all(sql.counters.all, {"broadcaster_id": broadcaster_id})}


def counter_add(tx: Tx, broadcaster_id: str, name: str, by: int) -> int:
    return int(
        tx.value(sql.counters.add, {"broadcaster_id": broadcaster_id, "name": name, "by": by, "now": time.time()})
    )


def counter_set(tx: Tx, broadcaster_id: str, name: str, value: int) -> int:
    return int(
        tx.value(sql.counters.set, {"broadcaster_id": broadcaster_id, "name": name, "value": value, "now": time.time()})
    )


# -- command log --------------------------------------------------------------------------------
def command_by_key(tx: Tx, broadcaster_id: str, key: str) -> dict[str, Any] | None:
    row = tx.one(sql.commands.by_idempotency_key, {"broadcaster_id": broadcaster_id, "key": key})
    if row is None:
        return None
    return {
        "id": row["id"],
        "result": row["result"],
        "reason": row["reason"],
        "response": orjson.loads(row["response"]) if row["response"] else None,
    }


def log_command(
    tx: Tx,
    broadcaster_id: str,
    type_: str,
    source: str,
    payload: Any,
    result: str,
    reason: str | None,
    idempotency_key: str | None,
    response: Any,
    ts: float,
) -> int:
    return int(
        tx.value(
            sql.commands.insert,
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
            },
        )
    )


def recent_commands(tx: Tx, broadcaster_id: str, limit: int) -> list[dict[str, Any]]:
    return [
        {
            "id": r["id"],
            "ts": r["ts"],
            "type": r["type"],
            "source": r["source"],
            "payload": orjson.loads(r["payload"]),
            "result": r["result"],
            "reason": r["reason"],
        }
        for r in tx.all(sql.commands.recent, {"broadcaster_id": broadcaster_id, "limit": limit})
    ]


# -- rewards and Helix intents ------------------------------------------------------------------
def reward(tx: Tx, broadcaster_id: str, reward_id: str) -> dict[str, Any] | None:
    row = tx.one(sql.rewards.get, {"broadcaster_id": broadcaster_id, "id": reward_id})
    return None if row is None else _reward(row)


def _reward(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "title": row["title"],
        "cost": row["cost"],
        "is_enabled": bool(row["is_enabled"]),
        "is_paused": bool(row["is_paused"]),
        "managed": None if row["managed"] is None else bool(row["managed"]),
        "removed": bool(row["removed"]),
    }


def rewards(tx: Tx, broadcaster_id: str) -> list[dict[str, Any]]:
    return [_reward(r) for r in tx.all(sql.rewards.all, {"broadcaster_id": broadcaster_id})]


def upsert_reward(tx: Tx, broadcaster_id: str, data: dict[str, Any], removed: bool = False) -> dict[str, Any]:
    row = tx.one(
        sql.rewards.upsert,
        {
            "broadcaster_id": broadcaster_id,
            "id": data["id"],
            "title": data.get("title", ""),
            "cost": int(data.get("cost") or 0),
            "is_enabled": int(bool(data.get("is_enabled", True))),
            "is_paused": int(bool(data.get("is_paused", False))),
            "removed": int(removed),
            "now": time.time(),
        },
    )
    return _reward(row)


def enqueue_helix_job(
    tx: Tx, broadcaster_id: str, entry_id: int | None, reward_id: str, redemption_id: str, action: str
) -> bool:
    row = tx.one(
        sql.helix_jobs.enqueue,
        {
            "broadcaster_id": broadcaster_id,
            "entry_id": entry_id,
            "reward_id": reward_id,
            "redemption_id": redemption_id,
            "action": action,
            "now": time.time(),
        },
    )
    return row is not None


def pending_helix_jobs(tx: Tx, limit: int = 100) -> list[dict[str, Any]]:
    return [dict(r) for r in tx.all(sql.helix_jobs.pending, {"limit": limit})]
