"""The SSE load process for bench/sse.py: holds N connections, triggers events, reports latencies.

    python bench/sse_load.py URL N KIND TOKEN     (KIND: ours | bare)

Prints READY once all N streams are open, then reads commands from stdin:
  EVENTS K   trigger K events one after another; print {"latencies": [...]} (seconds from the trigger
             to the moment the last of the N clients had the event)
  QUIT
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from urllib.parse import urlparse

import aiohttp
import orjson

VALUE = re.compile(rb'"name":"hits","value":(\d+)')


class Stream(asyncio.Protocol):
    def __init__(self, board: Board):
        self.board = board
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if b"\n\n" not in self.buf:
            return
        frames, _, self.buf = self.buf.rpartition(b"\n\n")
        now = time.perf_counter()
        for m in VALUE.finditer(frames):
            self.board.seen(int(m.group(1)), now)
        if not self.board.ready_seen and b"retry:" in frames:
            self.board.connected(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.board.lost += 1


class Board:
    def __init__(self, n: int):
        self.n = n
        self.counts: dict[int, int] = {}
        self.last: dict[int, float] = {}
        self.waiting: dict[int, asyncio.Future[float]] = {}
        self.open: set[Stream] = set()
        self.all_open = asyncio.Event()
        self.ready_seen = False
        self.lost = 0

    def connected(self, stream: Stream) -> None:
        self.open.add(stream)
        if len(self.open) >= self.n:
            self.all_open.set()

    def seen(self, value: int, now: float) -> None:
        c = self.counts.get(value, 0) + 1
        self.counts[value] = c
        self.last[value] = now
        if c == self.n and value in self.waiting and not self.waiting[value].done():
            self.waiting[value].set_result(now)


async def main() -> None:
    url, n, kind, token = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    u = urlparse(url)
    loop = asyncio.get_running_loop()
    board = Board(n)
    request = (
        f"GET /overlay/sse?token={token} HTTP/1.0\r\nHost: {u.netloc}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    for i in range(n):
        transport, _ = await loop.create_connection(lambda: Stream(board), u.hostname, u.port)
        transport.write(request)
        if i % 50 == 49:
            await asyncio.sleep(0.01)
    await asyncio.wait_for(board.all_open.wait(), 60)
    print("READY", flush=True)
    async with aiohttp.ClientSession() as session:
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = (await reader.readline()).decode().strip()
            if not line or line == "QUIT":
                break
            k = int(line.split()[1])
            latencies = []
            for _ in range(k):
                t0 = time.perf_counter()
                if kind == "ours":
                    async with session.post(
                        url + "/api/commands",
                        json={"type": "counter.increment", "payload": {"name": "hits"}},
                        headers={"Authorization": f"Bearer {sys.argv[5]}"},
                    ) as r:
                        assert r.status == 200, await r.text()
                        value = (await r.json())["data"]["value"]
                else:
                    async with session.post(url + "/publish") as r:
                        assert r.status == 200
                        value = (await r.json())["seq"]
                if board.counts.get(value, 0) >= n:
                    t1 = board.last[value]
                else:
                    fut: asyncio.Future[float] = loop.create_future()
                    board.waiting[value] = fut
                    try:
                        t1 = await asyncio.wait_for(fut, 10)
                    except TimeoutError:
                        t1 = float("inf")
                latencies.append(t1 - t0)
                await asyncio.sleep(0.01)
            print(orjson.dumps({"latencies": latencies, "lost": board.lost}).decode(), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
