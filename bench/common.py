"""Shared bench helpers: servers as real processes, seeded databases, percentiles, process stats."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import BROADCASTER, SIGNING_KEY, ServerProcess, free_port, seed_db  # noqa: E402

__all__ = [
    "UNCAPPED",
    "open_loop",
    "BROADCASTER",
    "SIGNING_KEY",
    "ServerProcess",
    "free_port",
    "seed",
    "pct",
    "machine",
    "BareServer",
    "cpu_seconds",
    "rss_bytes",
    "median",
]


def raise_fd_limit() -> None:
    """1000 SSE clients need more than the usual 1024 descriptors (systemd's unit sets 65535)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, 65535) if hard != resource.RLIM_INFINITY else 65535
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


raise_fd_limit()  # inherited by every server and load process the benches start


# The benches open thousands of streams from this one machine; the per-address caps are for the internet.
UNCAPPED = {"SSE_MAX_STREAMS_PER_CLIENT": "1000000", "SSE_MAX_STREAMS_PER_BROADCASTER": "1000000"}


def seed(db_path: Path, bindings: dict[str, str] | None = None) -> None:
    seed_db(db_path, rewards=bindings, queue={"max_length": 1000, "per_user_limit": 100})


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}, {platform.system()}"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class BareServer:
    """A bench-only aiohttp server (bench/bare_servers.py) as a real process."""

    def __init__(self, kind: str):
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> BareServer:
        import socket
        import time

        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "bare_servers.py"), self.kind, str(self.port)], cwd=ROOT
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("bare server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


async def open_loop(url: str, bodies: list[tuple[dict[str, str], bytes]], rate: float) -> list[float]:
    """Signed deliveries POSTed at a fixed rate whatever the answers (an open loop: a slow answer does
    not slow the next request); each latency is from its scheduled time. Every answer must be 2xx."""
    import asyncio
    import time

    import aiohttp

    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
        await asyncio.gather(*(session.get(url + "/healthz") for _ in range(8)))  # warm the pool

        async def one(i: int, at: float) -> None:
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            headers, raw = bodies[i]
            async with session.post(url + "/eventsub/webhook", data=raw, headers=headers) as r:
                await r.read()
                if not 200 <= r.status < 300:
                    raise RuntimeError(f"status {r.status}")
            latencies.append(time.perf_counter() - at)

        start = time.perf_counter() + 0.1
        await asyncio.gather(*(one(i, start + i / rate) for i in range(len(bodies))))
    return latencies
