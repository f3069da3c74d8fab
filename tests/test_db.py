"""Migrations, PRAGMAs on every connection, and the batching single writer."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from twi_overlay.db import Database, connect_sync
from twi_overlay.migrate import migrate
from twi_overlay.sqlfiles import load_sql, parse_queries

TABLES = {
    "broadcasters",
    "settings",
    "rewards",
    "queue_entries",
    "counters",
    "event_raw",
    "command_log",
    "helix_jobs",
    "eventsub_subscriptions",
    "overlay_keys",
    "sessions",
}


def test_migrations_apply_on_an_empty_file_and_are_idempotent(tmp_path: Path) -> None:
    path = str(tmp_path / "sub" / "app.db")
    assert migrate(path) == ["0001.initial", "0002.event-raw-lean-indexes"]
    assert migrate(path) == []
    conn = sqlite3.connect(path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert TABLES <= names
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent, set before yoyo
    conn.close()


def _pragmas(conn: sqlite3.Connection) -> tuple[Any, ...]:
    return tuple(
        conn.execute(f"PRAGMA {p}").fetchone()[0]
        for p in ("foreign_keys", "journal_mode", "synchronous", "busy_timeout")
    )


async def test_pragmas_on_every_connection(tmp_path: Path) -> None:
    path = str(tmp_path / "app.db")
    migrate(path)
    expected = (1, "wal", 1, 5000)  # synchronous=NORMAL is 1
    assert _pragmas(connect_sync(path)) == expected
    db = Database(path)
    await db.open()
    try:
        assert await db.read(lambda tx: _pragmas(tx.conn)) == expected
        assert await db.write(lambda tx: _pragmas(tx.conn)) == expected
    finally:
        await db.close()


async def test_a_failing_job_rolls_back_alone(db: Database) -> None:
    def insert(tx: Any, bid: str) -> None:
        tx.execute(
            "INSERT INTO broadcasters (id, login, display_name, created_at, updated_at) VALUES (?, 'l', 'd', 0, 0)",
            (bid,),
        )

    def insert_then_fail(tx: Any) -> None:
        insert(tx, "doomed")
        raise ValueError("boom")

    results = await asyncio.gather(
        db.write(insert, "a"), db.write(insert_then_fail), db.write(insert, "b"), return_exceptions=True
    )
    assert results[0] is None and isinstance(results[1], ValueError) and results[2] is None
    ids = await db.read(lambda tx: [r[0] for r in tx.all("SELECT id FROM broadcasters ORDER BY id")])
    assert ids == ["a", "b"]


async def test_concurrent_writes_are_batched_and_all_commit(db: Database) -> None:
    def insert(tx: Any, i: int) -> int:
        tx.execute("INSERT INTO counters (broadcaster_id, name, value, updated_at) VALUES ('x', ?, ?, 0)", (f"c{i}", i))
        return i

    await db.write(lambda tx: tx.execute("INSERT INTO broadcasters VALUES ('x','l','d',0,0,NULL,NULL,NULL,'',0,0)"))
    batches_before = db.batches
    results = await asyncio.gather(*(db.write(insert, i) for i in range(500)))
    assert results == list(range(500))
    assert db.batches - batches_before < 50  # many jobs per COMMIT
    assert await db.read(lambda tx: tx.value("SELECT count(*) FROM counters")) == 500


async def test_a_flood_of_deliveries_is_split_into_capped_batches_in_arrival_order(db: Database) -> None:
    from twi_overlay.db import MAX_BATCH
    from twi_overlay.webhook import STORE_DELIVERY

    n = 100
    batches = db.batches
    stored = await asyncio.gather(*(db.insert_unique(STORE_DELIVERY, _delivery_row(f"m{i:04d}")) for i in range(n)))
    assert stored == [True] * n
    # All n arrive in one loop iteration; no batch takes more than MAX_BATCH of them, so the loop has
    # the rest to answer and read while one batch commits (no convoy of every connection).
    assert db.batches - batches == -(-n // MAX_BATCH) >= 3
    ids = await db.read(lambda tx: [r[0] for r in tx.all("SELECT message_id FROM event_raw ORDER BY id")])
    assert ids == [f"m{i:04d}" for i in range(n)]


async def test_reads_do_not_wait_for_a_write_transaction(db: Database) -> None:
    import threading

    release = threading.Event()

    def slow_write(tx: Any) -> None:
        tx.execute("INSERT INTO broadcasters VALUES ('slow','l','d',0,0,NULL,NULL,NULL,'',0,0)")
        release.wait(5)

    pending = asyncio.ensure_future(db.write(slow_write))
    await asyncio.sleep(0.05)
    # The writer holds an open write transaction; a read still answers (and does not see it yet).
    assert await asyncio.wait_for(db.read(lambda tx: tx.value("SELECT count(*) FROM broadcasters")), 2) == 0
    release.set()
    await pending
    assert await db.read(lambda tx: tx.value("SELECT count(*) FROM broadcasters")) == 1


def test_sql_loader() -> None:
    q = parse_queries("-- name: a\n-- a comment\nSELECT 1;\n\n-- name: b\nSELECT :x\n")
    assert q == {"a": "SELECT 1", "b": "SELECT :x"}
    with pytest.raises(ValueError, match="defined twice"):
        parse_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;")
    with pytest.raises(ValueError, match="empty"):
        parse_queries("-- name: a\n-- nothing\n")
    every = load_sql()
    assert every.queue.insert.startswith("INSERT INTO queue_entries")


def test_every_named_query_compiles(tmp_path: Path) -> None:
    path = str(tmp_path / "app.db")
    migrate(path)
    conn = connect_sync(path)
    every = load_sql()
    for group in vars(every).values():
        for name, text in vars(group).items():
            conn.execute("EXPLAIN " + text, {k: None for k in _params(text)}), name


def _params(text: str) -> set[str]:
    import re

    return set(re.findall(r"(?<!:):([A-Za-z_]\w*)", text))


def _delivery_row(key: str, body: str = '{"n": 1}') -> list[Any]:
    return [key, "notification", "stream.online", "1337", body, 1700000000.123456]


async def test_bulk_rows_share_one_statement_and_each_key_is_stored_once(db: Database) -> None:
    from twi_overlay.webhook import STORE_DELIVERY

    await db.insert_unique(STORE_DELIVERY, _delivery_row("old"))
    body = '{"text": "ｷﾀ━(ﾟ∀ﾟ)━! \\"quoted\\" \\u0000 \\\\ end"}'
    calls = [
        db.insert_unique(STORE_DELIVERY, _delivery_row("a", body)),
        db.insert_unique(STORE_DELIVERY, _delivery_row("old")),  # stored by an earlier batch
        db.insert_unique(STORE_DELIVERY, _delivery_row("b")),
        db.insert_unique(STORE_DELIVERY, _delivery_row("a")),  # twice in this batch
        db.write(lambda tx: tx.value("SELECT 7")),  # an ordinary job in the same batch
        db.insert_unique(STORE_DELIVERY, _delivery_row("c")),
    ]
    batches = db.batches
    assert await asyncio.gather(*calls) == [True, False, True, False, 7, True]
    assert db.batches == batches + 2  # the deliveries in one statement, then the ordinary job
    rows = await db.read(
        lambda tx: [tuple(r) for r in tx.all("SELECT message_id, typeof(payload), payload, received_at FROM event_raw")]
    )
    assert [r[0] for r in rows] == ["old", "a", "b", "c"]
    assert {r[1] for r in rows} == {"blob"}
    assert rows[1][2] == body.encode() and rows[1][3] == 1700000000.123456


async def test_deliveries_are_answered_before_the_work_that_shares_their_batch(db: Database) -> None:
    import threading

    from twi_overlay.webhook import STORE_DELIVERY

    release = threading.Event()

    def slow(tx: Any) -> str:
        release.wait(5)
        return "processed"

    try:
        work = asyncio.ensure_future(db.write(slow))
        acks = [asyncio.ensure_future(db.insert_unique(STORE_DELIVERY, _delivery_row(k))) for k in "pq"]
        assert await asyncio.wait_for(asyncio.gather(*acks), 2) == [True, True]
        assert not work.done()
    finally:
        release.set()
    assert await work == "processed"


async def test_bulk_rows_all_stored_already(db: Database) -> None:
    from twi_overlay.webhook import STORE_DELIVERY

    assert await asyncio.gather(*(db.insert_unique(STORE_DELIVERY, _delivery_row(k)) for k in "xyz")) == [True] * 3
    assert await asyncio.gather(*(db.insert_unique(STORE_DELIVERY, _delivery_row(k)) for k in "zyx")) == [False] * 3
    assert await db.read(lambda tx: tx.value("SELECT count(*) FROM event_raw")) == 3


def _wal_bytes(db: Database) -> int:
    wal = Path(db.path + "-wal")
    return wal.stat().st_size if wal.exists() else 0


async def _fill_wal(db: Database, n: int) -> None:
    from twi_overlay.webhook import STORE_DELIVERY

    body = '{"pad": "' + "x" * 3000 + '"}'
    for start in range(0, n, 50):
        await asyncio.gather(
            *(db.insert_unique(STORE_DELIVERY, _delivery_row(f"k{i}", body)) for i in range(start, start + 50))
        )


async def test_the_writer_restarts_a_wal_that_passive_checkpoints_cannot_catch_up_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import twi_overlay.db as dbmod

    # A PASSIVE checkpointer that never catches up (as under a steady stream of writes).
    monkeypatch.setattr(dbmod, "_passive_checkpoint", lambda conn: (0, 10**6, 0))
    monkeypatch.setattr(dbmod, "CHECKPOINT_EVERY_SECS", 3600)  # the test runs the passes itself
    path = str(tmp_path / "app.db")
    migrate(path)
    db = Database(path)
    await db.open()
    try:
        await _fill_wal(db, 1000)  # ~4 MB of WAL
        high_water = _wal_bytes(db)
        assert high_water > 2 * 2**20
        await db.checkpoint_pass()  # what the checkpointer task does every second
        assert db.wal_restarts == 1
        await _fill_wal(db, 500)  # the next write starts the WAL over from its first frame ...
        _busy, frames, _done = await db.checkpoint("PASSIVE")
        assert 0 < frames < 1000  # ... so it holds only what came after the restart
        assert _wal_bytes(db) == high_water  # written over in place: neither grown nor cut back
    finally:
        await db.close()


async def test_a_checkpoint_never_holds_the_writer_behind_an_old_reader(db: Database) -> None:
    await _fill_wal(db, 50)
    reader = sqlite3.connect(db.path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM event_raw").fetchone()  # holds a snapshot, like a backup
        await _fill_wal(db, 100)
        started = asyncio.get_running_loop().time()
        busy, _frames, _done = await db.checkpoint("TRUNCATE")
        assert busy == 1
        assert asyncio.get_running_loop().time() - started < 1.0  # busy_timeout is 5 s
        assert await db.write(lambda tx: tx.value("SELECT 1")) == 1
        reader.execute("COMMIT")
        assert (await db.checkpoint("TRUNCATE"))[0] == 0
        assert _wal_bytes(db) == 0
    finally:
        reader.close()


async def test_restart_waits_until_passive_passes_have_copied_nearly_everything(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import twi_overlay.db as dbmod

    restarts: list[str] = []

    async def fake_checkpoint(mode: str = "TRUNCATE") -> tuple[int, int, int]:
        restarts.append(mode)
        return 0, 0, 0

    monkeypatch.setattr(db, "checkpoint", fake_checkpoint)
    # The writer outruns every pass (WAL long, much left to copy): no RESTART yet, the writer is left alone.
    long = dbmod.WAL_RESTART_FRAMES + 800
    monkeypatch.setattr(dbmod, "_passive_checkpoint", lambda conn: (0, long, 1000))
    await db.checkpoint_pass()
    assert restarts == []
    # A second pass leaves little: now the RESTART is cheap and happens.
    passes = iter([(0, long, 1000), (0, long + 100, long)])
    monkeypatch.setattr(dbmod, "_passive_checkpoint", lambda conn: next(passes))
    await db.checkpoint_pass()
    assert restarts == ["RESTART"]
