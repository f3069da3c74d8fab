"""SSE fan-out at N = 100/300/1000 clients (held by a separate load process): server RSS per client,
event -> last-client latency p50/p99, server CPU per event, next to a minimal raw
`StreamResponse.write` broadcast loop (bench/bare_servers.py sse) in the same run; and the webhook
ACK p99 at 200 req/s with 1000 overlay clients connected vs none.

    python bench/sse.py [--events 100] [--clients 100,300,1000]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from common import (  # isort: skip
    BROADCASTER,
    SIGNING_KEY,
    UNCAPPED,
    BareServer,
    ServerProcess,
    cpu_seconds,
    machine,
    pct,
    rss_bytes,
    seed,
)
from twi_overlay.web.auth import mint_token  # noqa: E402

HERE = Path(__file__).resolve().parent


class Load:
    def __init__(self, url: str, n: int, kind: str):
        overlay = mint_token(SIGNING_KEY, "overlay", BROADCASTER, 3600)[0]
        admin = mint_token(SIGNING_KEY, "admin", BROADCASTER, 3600)[0]
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "sse_load.py"), url, str(n), kind, overlay, admin],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if line.strip() != "READY":
            raise RuntimeError(f"load process failed: {line!r}")

    def events(self, k: int) -> dict[str, object]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(f"EVENTS {k}\n")
        self.proc.stdin.flush()
        return orjson.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.write("QUIT\n")
            self.proc.stdin.flush()
        self.proc.wait(30)


def measure(name: str, url: str, pid: int, n: int, kind: str, events: int) -> dict[str, float]:
    time.sleep(0.3)
    rss0 = rss_bytes(pid)
    load = Load(url, n, kind)
    try:
        time.sleep(0.5)
        rss1 = rss_bytes(pid)
        load.events(5)  # warm-up
        cpu0 = cpu_seconds(pid)
        t0 = time.perf_counter()
        result = load.events(events)
        wall = time.perf_counter() - t0
        cpu1 = cpu_seconds(pid)
    finally:
        load.close()
    lat = result["latencies"]  # type: ignore[index]
    if any(x is None for x in lat):  # type: ignore[union-attr]
        raise SystemExit(f"{name} N={n}: some events never reached every client: {str(result)[:600]}")
    return {
        "rss_mb": rss1 / 2**20,
        "per_client_kib": (rss1 - rss0) / n / 1024,
        "p50_ms": pct(lat, 50) * 1000,
        "p99_ms": pct(lat, 99) * 1000,  # type: ignore[arg-type]
        "cpu_ms_per_event": (cpu1 - cpu0) / events * 1000,
        "wall": wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--clients", default="100,300,1000")
    args = ap.parse_args()
    sizes = [int(x) for x in args.clients.split(",")]
    print(f"machine: {machine()}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-sse-"))
    db_path = tmp / "app.db"
    seed(db_path, {"reward-hit": "counter:hits"})
    ours = ServerProcess(db_path, **UNCAPPED).start()
    bare = BareServer("sse").start()
    rows = []
    try:
        for n in sizes:
            b = measure("raw loop", bare.url, bare.proc.pid, n, "bare", args.events)  # type: ignore[union-attr]
            o = measure("twi-overlay", ours.url, ours.proc.pid, n, "ours", args.events)  # type: ignore[union-attr]
            rows.append((n, b, o))
        # Webhook ACK p99 with the largest N connected vs none (the deliveries are broadcast to them).
        sys.path.insert(0, str(HERE))
        from webhook import open_loop

        ack: dict[str, list[float]] = {}
        for reward, label in (("reward-hit", "bound"), ("reward-unbound", "unbound")):
            ack[f"none {label}"] = asyncio.run(open_loop(ours.url, 200, 5, reward))
            load = Load(ours.url, sizes[-1], "ours")
            try:
                time.sleep(0.5)
                ack[f"full {label}"] = asyncio.run(open_loop(ours.url, 200, 5, reward))
            finally:
                load.close()
    finally:
        ours.stop()
        bare.stop()
    print(f"SSE fan-out, {args.events} events each (counter.updated to every overlay client):")
    print(
        f"  {'clients':>7} {'server':>12} {'RSS MB':>7} {'KiB/client':>10} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'CPU ms/event':>12}"
    )
    for n, b, o in rows:
        for name, r in (("raw loop", b), ("twi-overlay", o)):
            print(
                f"  {n:>7} {name:>12} {r['rss_mb']:7.1f} {r['per_client_kib']:10.1f} {r['p50_ms']:7.1f} "
                f"{r['p99_ms']:7.1f} {r['cpu_ms_per_event']:12.2f}"
            )
        print(
            f"  {'':>7} {'ratio':>12} {o['rss_mb'] / b['rss_mb']:7.2f} {'':>10} {o['p50_ms'] / b['p50_ms']:7.2f} "
            f"{o['p99_ms'] / b['p99_ms']:7.2f} {o['cpu_ms_per_event'] / b['cpu_ms_per_event']:12.2f}"
        )
    print("webhook ACK p99 at 200 req/s (5 s each):")
    for label, what in (
        ("unbound", "deliveries change nothing the overlay shows (clients idle)"),
        ("bound", "every delivery is a counter.updated event to every client"),
    ):
        none, full = ack[f"none {label}"], ack[f"full {label}"]
        print(
            f"  {what}: {pct(none, 99) * 1000:.2f} ms with no SSE clients, {pct(full, 99) * 1000:.2f} ms with "
            f"{sizes[-1]} overlay clients (ratio {pct(full, 99) / pct(none, 99):.2f}x)"
        )


if __name__ == "__main__":
    main()
