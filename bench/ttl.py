"""The TTL job's chunks on a large event_raw: how long one chunk holds the writer.

    python bench/ttl.py [--rows 1000000]

A table of `--rows` processed deliveries where only the oldest 500 have expired (the usual case: the
job runs every 10 minutes). The same-run baseline is the delete a chunk used to run, a scan for up to
1000 expired rows, which reads the whole table whenever fewer than 1000 have expired.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from common import machine  # isort: skip
from twi_overlay import repo  # noqa: E402
from twi_overlay.store.migrate import migrate  # noqa: E402
from twi_overlay.store.sqlite import connect  # noqa: E402
from twi_overlay.store.tx import Tx  # noqa: E402

PAYLOAD = b'{"event": {"user_input": "' + b"x" * 400 + b'"}}'
SCAN = (
    "DELETE FROM event_raw WHERE rowid IN (SELECT rowid FROM event_raw "
    "WHERE received_at < :cutoff AND processed_at IS NOT NULL LIMIT 1000)"
)


def fill(path: str, rows: int, expired: int) -> None:
    conn = connect(path)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO event_raw (message_id, message_type, subscription_type, payload, received_at, processed_at) "
        "VALUES (?, 'notification', 'channel.channel_points_custom_reward_redemption.add', ?, ?, 1)",
        (
            (f"m{i}", b'{"event": {"user_input": "' + b"x" * 400 + b'"}}', 1.0 if i < expired else 10.0)
            for i in range(rows)
        ),
    )
    conn.execute("COMMIT")
    conn.close()


def timed(path: str, chunk: object) -> float:
    conn = connect(path)
    conn.execute("BEGIN IMMEDIATE")
    started = time.perf_counter()
    chunk(conn)  # type: ignore[operator]
    took = time.perf_counter() - started
    conn.execute("ROLLBACK")  # the same table for every round
    conn.close()
    return took * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    path = str(Path(tempfile.mkdtemp(prefix="bench-ttl-")) / "app.db")
    migrate(path)
    fill(path, args.rows, expired=500)
    scan = [timed(path, lambda c: c.execute(SCAN, {"cutoff": 2.0})) for _ in range(args.rounds)]
    window = [timed(path, lambda c: repo.maintenance.delete_deliveries(Tx(c), 2.0, 0)) for _ in range(args.rounds)]
    print(f"one TTL chunk on {args.rows:,} deliveries, 500 expired (ms the writer is held, median of {args.rounds}):")
    print(f"  scan for expired rows (baseline) : {statistics.median(scan):8.2f}  {[round(x, 2) for x in scan]}")
    print(f"  window of 1000 ids (twi-overlay) : {statistics.median(window):8.2f}  {[round(x, 2) for x in window]}")


if __name__ == "__main__":
    main()
