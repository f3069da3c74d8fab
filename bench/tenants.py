"""Many tenants: 5,000 broadcasters with two streams each (10,000 SSE connections), every replay ring
filled up to the global budget, and 200 deliveries/s spread across them; side by side with the same
load on one broadcaster with its two streams, alternately for `--rounds` rounds in the same run (the
figures are the medians: one round's ratio moves with the machine's own noise).

    python bench/tenants.py [--broadcasters 5000] [--rate 200] [--seconds 20] [--rounds 3] [--max-steal 2]

Per run it prints the server's RSS (after the streams connected, and its maximum under load), the
ACK latency of the open loop and event → client latency, both on the wire (`stamped.py`): an ACK from
the moment its request was written to the moment its answer arrived at the driver's socket, an event
from its frame's `ts` (when the hub published it) to the moment the frame arrived at the client's
socket, over every frame of every stream. Beside them, what the bench processes saw when they got
round to reading (one process stands in for Twitch, one for 10,000 browsers, and each queues its own
reads). The streams are held by a separate process (`tenants.py clients`) on raw sockets; a stream
counts as connected once its snapshot arrived. Also printed: the CPU each process used under load,
how many ACKs the server's own histogram put over 5 ms, and the share of CPU time the hypervisor
stole. On a shared VM that share reaches 10-30 % for a minute at a time, and every latency of that
run with it (the one-broadcaster side as much as the other); a side whose load saw more than
`--max-steal` % is run again, up to `--retries` times, and the discarded runs are listed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, SIGNING_KEY, UNCAPPED, ServerProcess, cpu_seconds, machine, median, pct, rss_bytes  # noqa: E402
from stamped import open_loop, open_stamped, post, read_ready  # noqa: E402

from tests.helpers import delivery, redemption_body, seed_db  # noqa: E402

TS = re.compile(rb'"type":"counter\.updated","ts":([0-9.]+)')
BINDINGS = {"reward-queue": "queue", "reward-hit": "counter:hits"}


# -- the stream holder (a separate process) ---------------------------------------------------------
class Held:
    """One stream, read with its kernel receive stamps (`stamped.recv_stamped`)."""

    __slots__ = ("sock", "buf", "opened")

    def __init__(self, sock: socket.socket, opened: asyncio.Future[None]):
        self.sock = sock
        self.buf = b""
        self.opened = opened

    def closed(self) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("stream closed"))


async def hold_streams(port: int, broadcasters: list[str]) -> None:
    from twi_overlay.web.auth import mint_token

    loop = asyncio.get_running_loop()
    at_socket: list[float] = []  # published → the frame's last segment arrived at the client's socket
    at_read: list[float] = []  # published → this process got round to reading it
    held: list[Held] = []
    limit = asyncio.Semaphore(200)

    def readable(stream: Held) -> None:
        ready = read_ready(stream.sock, stream.closed)
        if ready is None:
            return
        data, arrived, now = ready
        stream.buf += data
        # Connected once its snapshot arrived, not at the headers: the server reads each new stream's
        # snapshot after answering 200, and 10,000 of those still queued would share the measurement.
        if not stream.opened.done() and b"state.replace" in stream.buf:
            stream.opened.set_result(None)
        if b"\n\n" not in stream.buf:
            return
        frames, _, stream.buf = stream.buf.rpartition(b"\n\n")
        for m in TS.finditer(frames):
            published = float(m.group(1))
            at_socket.append(arrived - published)
            at_read.append(now - published)

    async def one(bid: str, aud: str) -> None:
        token = mint_token(SIGNING_KEY, aud, bid, 3600)[0]
        async with limit:
            stream = Held(await open_stamped(port), loop.create_future())
            loop.add_reader(stream.sock.fileno(), readable, stream)
            stream.sock.sendall(f"GET /{aud}/sse?token={token} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            await stream.opened
            held.append(stream)

    await asyncio.gather(*(one(bid, aud) for bid in broadcasters for aud in ("admin", "overlay")))
    # The holder must not be what it measures: a full collection over 10,000 streams would stall its
    # reads, and show up (in the read figure) as event → client latency of the server.
    gc.freeze()
    gc.disable()
    print(f"READY {len(held)}", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if line == "RESET":
            at_socket.clear()
            at_read.clear()
            print("OK", flush=True)
        elif line == "REPORT" or not line:
            print(json.dumps({"at_socket": at_socket, "at_read": at_read}), flush=True)
            return


def seed_many(db_path: Path, n: int) -> list[str]:
    ids = [str(1_000_000 + i) for i in range(n)]
    seed_db(db_path, ids[0], "b0", BINDINGS, {"max_length": 1000, "per_user_limit": 1000})
    conn = sqlite3.connect(db_path)
    doc = conn.execute("SELECT doc FROM settings WHERE broadcaster_id = ?", (ids[0],)).fetchone()[0]
    conn.executemany(
        "INSERT INTO broadcasters (id, login, display_name, created_at, updated_at) VALUES (?, ?, ?, 0, 0)",
        [(bid, f"b{i}", f"B{i}") for i, bid in enumerate(ids) if i],
    )
    conn.executemany(
        "INSERT INTO settings (broadcaster_id, version, doc, updated_at) VALUES (?, 1, ?, 0)",
        [(bid, doc) for bid in ids[1:]],
    )
    conn.commit()
    conn.close()
    return ids


async def send_all(url: str, bodies: list[tuple[dict[str, str], bytes]], concurrency: int = 64) -> None:
    it = iter(bodies)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            for headers, raw in it:
                async with session.post(url + "/eventsub/webhook", data=raw, headers=headers) as r:
                    if r.status != 204:
                        raise RuntimeError(f"delivery answered {r.status}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def wait_processed(db_path: Path) -> None:
    """Until the server has processed every stored delivery (run in a thread)."""
    conn = sqlite3.connect(db_path)
    try:
        while conn.execute("SELECT count(*) FROM event_raw WHERE processed_at IS NULL").fetchone()[0]:
            time.sleep(0.2)
    finally:
        conn.close()


async def scrape(url: str) -> tuple[str, float]:
    """The server's /metrics text, and how long the scrape took."""
    async with aiohttp.ClientSession() as s:
        started = time.perf_counter()
        async with s.get(url + "/metrics") as r:
            text = await r.text()
        return text, time.perf_counter() - started


def metric(text: str, name: str) -> float:
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def stolen() -> tuple[int, int]:
    """(steal ticks, all ticks) of the whole machine from /proc/stat: the time the hypervisor ran
    someone else while our CPUs had work, which no code here can win back."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return fields[7], sum(fields[:8])


def stolen_pct(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total * 100 if total else 0.0


async def ack_over(url: str) -> tuple[float, float, float]:
    """The server's own count of webhook answers over 5 ms, and of all of them (its histogram); and
    how long that scrape of /metrics took."""
    text, took = await scrape(url)
    within = metric(text, 'webhook_ack_latency_seconds_bucket{le="0.005"}')
    total = metric(text, "webhook_ack_latency_seconds_count")
    return total - within, total, took


async def run(folder: Path, n: int, rate: float, seconds: float, fill: int) -> dict[str, float]:
    db_path = folder / "app.db"
    ids = seed_many(db_path, n)
    server = ServerProcess(db_path, **UNCAPPED).start()
    rng = random.Random(n)
    out: dict[str, float] = {"broadcasters": n}
    try:
        assert server.proc is not None
        out["rss_idle_mb"] = rss_bytes(server.proc.pid) / 2**20
        # Fill the rings: queue entries with a long note, spread over every broadcaster.
        note = "x" * 400
        bodies = [
            delivery(
                redemption_body(broadcaster_id=ids[i % n], reward_id="reward-queue", user_id=f"f{i}", user_input=note)
            )
            for i in range(fill)
        ]
        # And one redemption of the load's reward per broadcaster, as in channels that have been live a
        # while: otherwise most of the measured load would be each broadcaster's first, which creates
        # its reward and counter rows, work the one-broadcaster side does once.
        bodies += [
            delivery(redemption_body(broadcaster_id=bid, reward_id="reward-hit", user_id=f"w{i}"))
            for i, bid in enumerate(ids)
        ]
        started = time.monotonic()
        await send_all(server.url, bodies)
        await asyncio.to_thread(wait_processed, db_path)
        out["fill_s"] = time.monotonic() - started
        out["ring_mb"] = metric((await scrape(server.url))[0], "sse_ring_bytes") / 2**20
        holder = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).resolve()),
            "clients",
            str(server.port),
            *ids,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            limit=2**30,
        )
        assert holder.stdin is not None and holder.stdout is not None
        started = time.monotonic()
        ready = (await holder.stdout.readline()).decode().split()
        out["streams"] = float(ready[1])
        out["connect_s"] = time.monotonic() - started
        out["rss_connected_mb"] = rss_bytes(server.proc.pid) / 2**20
        load = [
            post(
                "/eventsub/webhook",
                *delivery(redemption_body(broadcaster_id=rng.choice(ids), reward_id="reward-hit", user_id=f"l{i}")),
            )
            for i in range(int(rate * seconds))
        ]
        rss_max = 0.0
        sampling = True

        async def sample() -> None:
            nonlocal rss_max
            while sampling:
                assert server.proc is not None
                rss_max = max(rss_max, rss_bytes(server.proc.pid) / 2**20)
                await asyncio.sleep(0.5)

        sampler = asyncio.ensure_future(sample())
        over_before = await ack_over(server.url)
        cpu_before = (cpu_seconds(server.proc.pid), cpu_seconds(holder.pid), time.process_time())
        steal_before = stolen()
        acks = await open_loop(server.port, load, rate)
        out["steal_pct"] = stolen_pct(steal_before, stolen())
        cpu_after = (cpu_seconds(server.proc.pid), cpu_seconds(holder.pid), time.process_time())
        over_after = await ack_over(server.url)
        load_s = len(load) / rate
        out["cpu_server"], out["cpu_holder"], out["cpu_driver"] = (
            (after - before) / load_s * 100 for before, after in zip(cpu_before, cpu_after, strict=True)
        )
        out["server_ack_over_5ms"] = over_after[0] - over_before[0]
        out["server_acks"] = over_after[1] - over_before[1]
        out["scrape_ms"] = max(over_before[2], over_after[2]) * 1000
        await asyncio.to_thread(wait_processed, db_path)
        await asyncio.sleep(1.0)  # the last frames on their way to the holder
        sampling = False
        await sampler
        holder.stdin.write(b"REPORT\n")
        await holder.stdin.drain()
        events = json.loads(await holder.stdout.readline())
        await asyncio.wait_for(holder.wait(), 30)
        out["rss_max_mb"] = rss_max
        out["ack_p50_ms"], out["ack_p99_ms"] = pct(acks.wire, 50) * 1000, pct(acks.wire, 99) * 1000
        out["ack_seen_p50_ms"], out["ack_seen_p99_ms"] = pct(acks.seen, 50) * 1000, pct(acks.seen, 99) * 1000
        out["late_p99_ms"] = pct(acks.late, 99) * 1000
        out["connections"] = float(acks.connections)
        out["frames"] = float(len(events["at_socket"]))
        for key, values in (("event", events["at_socket"]), ("event_read", events["at_read"])):
            out[f"{key}_p50_ms"], out[f"{key}_p99_ms"] = pct(values, 50) * 1000, pct(values, 99) * 1000
        out["budget_evictions"] = metric((await scrape(server.url))[0], 'sse_ring_evicted_total{bound="budget"}')
    finally:
        server.stop()
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "clients":
        asyncio.run(hold_streams(int(sys.argv[2]), sys.argv[3:]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--broadcasters", type=int, default=5000)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--fill", type=int, default=60000, help="deliveries that fill the rings first")
    ap.add_argument("--rounds", type=int, default=3, help="one broadcaster and many, alternately, this many times")
    ap.add_argument(
        "--max-steal",
        type=float,
        default=2.0,
        help="run a side again when the hypervisor stole more than this %% of the CPU time during its load",
    )
    ap.add_argument("--retries", type=int, default=3, help="at most this many runs again per side")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    rounds = []
    discarded: list[float] = []
    for _ in range(args.rounds):
        results = []
        for n, fill in ((1, 1500), (args.broadcasters, args.fill)):
            for attempt in range(args.retries + 1):
                folder = Path(tempfile.mkdtemp(prefix=f"bench-tenants-{n}-"))
                result = asyncio.run(run(folder, n, args.rate, args.seconds, fill))
                if result["steal_pct"] <= args.max_steal or attempt == args.retries:
                    break
                # A neighbour on the host had our CPUs: that run measured the host, not this code.
                discarded.append(result["steal_pct"])
            results.append(result)
        rounds.append(results)
    print(f"{args.rate:g} deliveries/s for {args.seconds:g} s, two streams (admin + overlay) per broadcaster")
    rows = [
        ("broadcasters", "broadcasters", "{:.0f}"),
        ("SSE streams", "streams", "{:.0f}"),
        ("ring fill (s)", "fill_s", "{:.1f}"),
        ("replay rings held (MiB)", "ring_mb", "{:.1f}"),
        ("streams connected in (s)", "connect_s", "{:.1f}"),
        ("RSS idle (MB)", "rss_idle_mb", "{:.0f}"),
        ("RSS streams connected (MB)", "rss_connected_mb", "{:.0f}"),
        ("RSS max under load (MB)", "rss_max_mb", "{:.0f}"),
        ("ACK p50 / p99 on the wire (ms)", ("ack_p50_ms", "ack_p99_ms"), "{:.2f} / {:.2f}"),
        ("ACK p50 / p99 as the driver read (ms)", ("ack_seen_p50_ms", "ack_seen_p99_ms"), "{:.2f} / {:.2f}"),
        ("driver's own lag p99 (ms), connections", ("late_p99_ms", "connections"), "{:.2f}, {:.0f}"),
        ("CPU % of a core: server/streams/load", ("cpu_server", "cpu_holder", "cpu_driver"), "{:.0f}/{:.0f}/{:.0f}"),
        ("CPU time stolen by the hypervisor (%)", "steal_pct", "{:.1f}"),
        ("ACKs the server timed over 5 ms", ("server_ack_over_5ms", "server_acks"), "{:.0f} of {:.0f}"),
        ("GET /metrics, the slower of two (ms)", "scrape_ms", "{:.1f}"),
        ("frames read", "frames", "{:.0f}"),
        ("event → client socket p50 / p99 (ms)", ("event_p50_ms", "event_p99_ms"), "{:.2f} / {:.2f}"),
        ("event → holder read p50 / p99 (ms)", ("event_read_p50_ms", "event_read_p99_ms"), "{:.2f} / {:.2f}"),
        ("evictions by the global budget", "budget_evictions", "{:.0f}"),
    ]
    for i, results in enumerate(rounds, 1):
        print(f"round {i}: {'':25s} {'one broadcaster':>20s} {f'{args.broadcasters} broadcasters':>20s}")
        for label, key, fmt in rows:
            cells = [
                fmt.format(*(r[k] for k in key)) if isinstance(key, tuple) else fmt.format(r[key]) for r in results
            ]
            print(f"  {label:34s} {cells[0]:>20s} {cells[1]:>20s}")
    # One round's ratio swings from 0.8x to 2x on this VM (the machine's own noise between two runs a
    # minute apart); the medians over alternating rounds are the figure.
    ratios = [many["event_p99_ms"] / one["event_p99_ms"] for one, many in rounds]
    one_p99 = median([one["event_p99_ms"] for one, _ in rounds])
    many_p99 = median([many["event_p99_ms"] for _, many in rounds])
    ack = median([many["ack_p99_ms"] for _, many in rounds])
    print(f"  event → client p99 per round: {', '.join(f'{r:.2f}x' for r in ratios)}")
    print(
        f"  median event → client p99: {one_p99:.2f} ms one broadcaster, {many_p99:.2f} ms {args.broadcasters};"
        f" ratio {many_p99 / one_p99:.2f}x (target <= 1.2x); median of the round ratios {median(ratios):.2f}x"
    )
    ack_one = median([one["ack_p99_ms"] for one, _ in rounds])
    steal = ", ".join(f"{one['steal_pct']:.1f} / {many['steal_pct']:.1f}" for one, many in rounds)
    if discarded:
        print(
            f"  run again for hypervisor steal over {args.max_steal:g} %: {len(discarded)} side(s), stolen"
            f" {', '.join(f'{x:.1f}' for x in discarded)} %"
        )
    print(
        f"  median ACK p99: {ack_one:.2f} ms one broadcaster, {ack:.2f} ms {args.broadcasters} (target <= 5 ms);"
        f" hypervisor steal per round (one / many): {steal} %"
    )

    def read(side: int, key: str) -> float:
        return median([r[side][key] for r in rounds])

    ack_read = (read(0, "ack_seen_p99_ms"), read(1, "ack_seen_p99_ms"))
    event_read = (read(0, "event_read_p99_ms"), read(1, "event_read_p99_ms"))
    print(
        f"  as the bench processes read them, medians (one / {args.broadcasters}): ACK p99"
        f" {ack_read[0]:.2f} / {ack_read[1]:.2f} ms, event p99 {event_read[0]:.2f} / {event_read[1]:.2f} ms"
        f" ({event_read[1] / event_read[0]:.2f}x)"
    )


if __name__ == "__main__":
    main()
