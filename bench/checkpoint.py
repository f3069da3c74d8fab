"""The writer's WAL RESTART under a steady stream of writes, with and without the checkpointer's flush.

    python bench/checkpoint.py [--rate 200] [--seconds 60] [--rounds 2] [--mb 300]

A database of `--mb` MB of stored deliveries and the real store (writer, checkpointer, its policy),
written to at `--rate` jobs/s, each storing three deliveries and marking an old one processed
(scattered pages, as processing does): about 12 WAL pages a job, as a webhook flood. Under that load
the PASSIVE passes never catch up, and every ~14 s the writer runs a RESTART between two batches.
It prints how long each RESTART held the writer, and each job's latency from its scheduled time
(open loop), for the shipped policy (the checkpointer's thread fsyncs the database file and the WAL
before the RESTART) and, as the same-run baseline, the same policy without that flush, alternately.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from common import machine, median, pct  # isort: skip
from twi_overlay.store import wal  # noqa: E402
from twi_overlay.store.database import Database  # noqa: E402
from twi_overlay.store.migrate import migrate  # noqa: E402
from twi_overlay.store.sqlite import connect  # noqa: E402
from twi_overlay.store.tx import Tx  # noqa: E402

COLUMNS = "message_id, message_type, subscription_type, payload, received_at, processed_at"
KIND = "'notification', 'channel.channel_points_custom_reward_redemption.add'"
INSERT = f"INSERT INTO event_raw ({COLUMNS}) VALUES (?, {KIND}, ?, ?, NULL)"
FILL = f"INSERT INTO event_raw ({COLUMNS}) VALUES (?, {KIND}, ?, 1.0, 1.0)"


def fill(path: str, rows: int) -> None:
    conn = connect(path)
    conn.execute("BEGIN")
    conn.executemany(FILL, ((f"m{i}", os.urandom(700).hex()) for i in range(rows)))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def job(tx: Tx, n: int, rows: int) -> None:
    for k in range(3):
        tx.execute(INSERT, (f"load{n}-{k}", os.urandom(700).hex(), time.time()))
    tx.execute("UPDATE event_raw SET processed_at = ? WHERE rowid = ?", (time.time(), random.randint(1, rows)))


async def run(path: str, rows: int, rate: float, seconds: float, flush: bool) -> dict[str, Any]:
    restarts: list[float] = []
    on_writer = wal.checkpoint_on_writer
    shipped_flush = wal.FileSync.flush

    async def timed(writer: Any, mode: str = "TRUNCATE") -> wal.Checkpoint:
        started = time.perf_counter()
        try:
            return await on_writer(writer, mode)
        finally:
            restarts.append(time.perf_counter() - started)

    wal.checkpoint_on_writer = timed  # type: ignore[assignment]
    if not flush:
        wal.FileSync.flush = lambda self: None  # type: ignore[method-assign]
    db = Database(path)
    await db.open()
    latencies: list[float] = []
    try:

        async def one(n: int, at: float) -> None:
            await db.write(job, n, rows)
            latencies.append(time.perf_counter() - at)

        start = time.perf_counter() + 0.1
        pending = []
        for n in range(int(rate * seconds)):
            at = start + n / rate
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.ensure_future(one(n, at)))
        await asyncio.gather(*pending)
    finally:
        await db.close()
        wal.checkpoint_on_writer = on_writer
        wal.FileSync.flush = shipped_flush  # type: ignore[method-assign]
    return {"restarts": restarts, "latencies": latencies}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--mb", type=int, default=300)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    rows = args.mb * 2**20 // 1600
    results: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    for _ in range(args.rounds):
        for flush in (False, True):
            with tempfile.TemporaryDirectory(prefix="bench-checkpoint-", dir="/var/tmp") as folder:
                path = str(Path(folder) / "app.db")
                migrate(path)
                fill(path, rows)
                results[flush].append(asyncio.run(run(path, rows, args.rate, args.seconds, flush)))
    print(f"{args.rate:g} write jobs/s for {args.seconds:g} s on a {args.mb} MB database, {args.rounds} rounds each")
    print(f"  {'':40s} {'RESTART (ms), each':>36s} {'job p50 / p99 / max (ms)':>26s} {'jobs over 5 ms':>15s}")
    for flush, label in ((False, "without the flush (baseline)"), (True, "with the flush (shipped)")):
        for i, r in enumerate(results[flush], 1):
            lat = r["latencies"]
            each = ", ".join(f"{x * 1000:.1f}" for x in r["restarts"]) or "none"
            figures = f"{pct(lat, 50) * 1000:.2f} / {pct(lat, 99) * 1000:.2f} / {max(lat) * 1000:.1f}"
            over = sum(x > 0.005 for x in lat)
            print(f"  {label + f', round {i}':40s} {each:>36s} {figures:>26s} {over:>15d}")
    for flush, label in ((False, "without"), (True, "with")):
        every = [x for r in results[flush] for x in r["restarts"]]
        print(f"  median RESTART {label} the flush: {median(every) * 1000:.1f} ms over {len(every)}")


if __name__ == "__main__":
    main()
