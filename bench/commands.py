"""Queue commands per second through the real command path (domain + repository + SQLite, one
command_log row and events each), next to a bare aiosqlite loop doing one INSERT per transaction.

    python bench/commands.py [--seconds 3] [--rounds 3]

Each command is a `queue.enqueue` or `queue.complete` (alternating, so the queue stays short), run
as the admin API runs it: `Database.write(command_job, ...)`, events published to a real Hub.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

import aiosqlite

from common import BROADCASTER, machine, median, seed  # isort: skip
from twi_overlay.domain.outcomes import Handled  # noqa: E402
from twi_overlay.store.database import Database  # noqa: E402
from twi_overlay.store.sqlite import PRAGMAS  # noqa: E402
from twi_overlay.stream.hub import Hub  # noqa: E402
from twi_overlay.web.api import command_job  # noqa: E402


async def bare_loop(path: Path, seconds: float) -> float:
    conn = await aiosqlite.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        await conn.execute(pragma)
    await conn.execute("CREATE TABLE IF NOT EXISTS bare (id INTEGER PRIMARY KEY, user_name TEXT, at REAL)")
    n = 0
    end = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < end:
        await conn.execute("BEGIN IMMEDIATE")
        await conn.execute("INSERT INTO bare (user_name, at) VALUES (?, ?)", (f"u{n}", time.time()))
        await conn.execute("COMMIT")
        n += 1
    elapsed = time.perf_counter() - started
    await conn.close()
    return n / elapsed


async def ours(path: Path, seconds: float, in_flight: int) -> float:
    hub = Hub(ring_max=1000, client_buffer=65536)
    db = Database(str(path), on_events=hub.publish)
    await db.open()
    counter = 0
    end = time.perf_counter() + seconds

    async def worker(w: int) -> int:
        nonlocal counter
        done = 0
        while time.perf_counter() < end:
            counter += 1
            r = await db.write(command_job, BROADCASTER, "queue.enqueue", {"user_name": f"w{w}-{counter}"}, None)
            assert isinstance(r, Handled) and r.result == "ok" and r.data, r
            entry_id = r.data["entry"]["id"]
            r = await db.write(command_job, BROADCASTER, "queue.complete", {"entry_id": entry_id}, None)
            assert isinstance(r, Handled) and r.result == "ok", r
            done += 2
        return done

    started = time.perf_counter()
    total = sum(await asyncio.gather(*(worker(w) for w in range(in_flight))))
    elapsed = time.perf_counter() - started
    await db.close()
    return total / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-commands-"))
    db_path = tmp / "app.db"
    seed(db_path)
    results: dict[str, list[float]] = {"bare": [], "ours x1": [], "ours x32": []}
    for _ in range(args.rounds):
        results["bare"].append(asyncio.run(bare_loop(tmp / "bare.db", args.seconds)))
        results["ours x1"].append(asyncio.run(ours(db_path, args.seconds, 1)))
        results["ours x32"].append(asyncio.run(ours(db_path, args.seconds, 32)))
    logged = sqlite3.connect(db_path).execute("SELECT count(*) FROM command_log").fetchone()[0]
    b = median(results["bare"])
    print(f"commands per second ({args.seconds:g}s x {args.rounds} rounds, median):")
    print(f"  bare aiosqlite, 1 INSERT per transaction : {b:8.0f}  {[round(x) for x in results['bare']]}")
    for name in ("ours x1", "ours x32"):
        m = median(results[name])
        label = {"ours x1": "command path, 1 in flight", "ours x32": "command path, 32 in flight"}[name]
        print(f"  {label:41s}: {m:8.0f}  {[round(x) for x in results[name]]}  ratio {m / b:.2f}x")
    print(f"  ({logged} command_log rows written: every command logged)")


if __name__ == "__main__":
    main()
