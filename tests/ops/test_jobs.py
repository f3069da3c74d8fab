"""The TTL + checkpoint job: old log rows go in chunks, state is never touched, the loop survives a failing run."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from tests.conftest import add_broadcaster, admin_headers
from twi_overlay.ops import metrics
from twi_overlay.ops.jobs import maintenance
from twi_overlay.store.database import Database

HOUR = 3600.0


def _seed(tx: Any, old: int, new: int, now: float) -> None:
    add_broadcaster(tx)
    rows = []
    for i in range(old + new):
        received = now - 73 * HOUR if i < old else now - 71 * HOUR
        rows.append((f"m{i}", "notification", "t", "1337", b"{}", received, received))
    tx.conn.executemany(
        "INSERT INTO event_raw (message_id, message_type, subscription_type, broadcaster_id, "
        "payload, received_at, processed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    tx.conn.executemany(
        "INSERT INTO command_log (broadcaster_id, ts, type, source, payload, result) "
        "VALUES ('1337', ?, 'queue.pick', 'admin', '{}', 'ok')",
        [(now - 73 * HOUR if i < old else now - 1,) for i in range(old + new)],
    )
    # An old delivery that was never processed is still owed work: it must survive.
    tx.execute(
        "INSERT INTO event_raw (message_id, message_type, subscription_type, broadcaster_id, payload, "
        "received_at) VALUES ('unprocessed', 'notification', 't', '1337', x'7b7d', ?)",
        (now - 100 * HOUR,),
    )
    tx.execute(
        "INSERT INTO queue_entries (broadcaster_id, position, status, user_name, source, enqueued_at) "
        "VALUES ('1337', 1, 'waiting', 'old viewer', 'admin', '2020-01-01T00:00:00Z')"
    )
    tx.execute("INSERT INTO counters VALUES ('1337', 'deaths', 7, 0)")


def _value(metric: Any, *labels: str) -> float:
    return (metric.labels(*labels) if labels else metric)._value.get()


def _histogram_count(metric: Any) -> float:
    return next(s.value for s in metric.collect()[0].samples if s.name.endswith("_count"))


async def test_ttl_deletes_old_rows_in_chunks_and_truncates_the_wal(db: Database) -> None:
    now = time.time()
    await db.write(_seed, 2500, 40, now)
    before = {t: _value(metrics.DB_TTL_DELETED, t) for t in ("event_raw", "command_log")}
    checkpoints = _histogram_count(metrics.DB_CHECKPOINT_SECONDS)
    batches = db.batches
    assert os.path.getsize(db.path + "-wal") > 0
    result = await maintenance(db, 72.0, now=now)
    assert result["deleted"] == {"event_raw": 2500, "command_log": 2500, "chatters": 0}
    assert db.batches - batches >= 6  # 3 chunks per table, each its own transaction
    counts = await db.read(
        lambda tx: {
            t: tx.value(f"SELECT count(*) FROM {t}")
            for t in ("event_raw", "command_log", "queue_entries", "counters", "settings", "broadcasters")
        }
    )
    assert counts == {
        "event_raw": 41,
        "command_log": 40,
        "queue_entries": 1,
        "counters": 1,
        "settings": 1,
        "broadcasters": 1,
    }
    assert await db.read(lambda tx: tx.value("SELECT count(*) FROM event_raw WHERE message_id = 'unprocessed'")) == 1
    assert result["checkpoint"]["busy"] == 0
    assert os.path.getsize(db.path + "-wal") == 0  # wal_checkpoint(TRUNCATE)
    assert _value(metrics.DB_TTL_DELETED, "event_raw") == before["event_raw"] + 2500
    assert _value(metrics.DB_TTL_DELETED, "command_log") == before["command_log"] + 2500
    assert _histogram_count(metrics.DB_CHECKPOINT_SECONDS) == checkpoints + 1


async def test_maintenance_endpoint_needs_admin_and_runs(client: Any) -> None:
    assert (await client.post("/api/maintenance")).status == 401
    r = await client.post("/api/maintenance", headers=admin_headers())
    assert r.status == 200
    body = await r.json()
    assert set(body) == {"deleted", "chunks", "checkpoint"}


async def test_ttl_loop_survives_a_failing_run(
    aiohttp_client: Any, settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from twi_overlay.app import create_app
    from twi_overlay.config import load_settings
    from twi_overlay.ops import jobs

    calls: list[str] = []
    done = asyncio.Event()

    async def flaky(app: Any) -> dict[str, Any]:
        calls.append("run")
        if len(calls) == 1:
            raise RuntimeError("disk on fire")
        done.set()
        return {}

    monkeypatch.setattr(jobs, "run_maintenance", flaky)
    failures = _value(metrics.DB_MAINTENANCE_FAILURES)
    await aiohttp_client(create_app(load_settings({**settings_env, "TTL_INTERVAL_SECS": "0.05"})))
    await asyncio.wait_for(done.wait(), 5)
    assert len(calls) >= 2
    assert _value(metrics.DB_MAINTENANCE_FAILURES) == failures + 1
