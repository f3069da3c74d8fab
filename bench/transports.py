"""Webhook and conduit side by side: notification → stored → overlay latency at 200 events/s, each
transport against its own server process in the same run.

    python bench/transports.py [--rate 200] [--seconds 5]      (bench/webhook.py runs it too)

- webhook: signed deliveries POSTed open-loop to /eventsub/webhook (as Twitch would);
- conduit: the same redemptions sent by the fake Twitch (tests/fake_twitch.py, in this process) as
  notification frames over the WebSocket shards the server holds open.
For each notification: when it was sent; when the server's tap said it was stored (`/_debug/tap`,
development's open pipeline stream); when its `queue.enqueued` reached an overlay stream. Both servers
run the same code and database settings; only the door differs. The fake Twitch runs in this process,
so its frame writing shares a CPU with the clients (on 2 cores the numbers include that)."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from common import BROADCASTER, SIGNING_KEY, ServerProcess, machine, pct  # isort: skip
from tests.fake_twitch import CLIENT_ID, CLIENT_SECRET, FakeTwitch  # noqa: E402
from tests.helpers import delivery, free_port, redemption_body, seed_db, sign_in_over_http, until  # noqa: E402
from twi_overlay.ingest.eventsub import REDEMPTION_ADD  # noqa: E402
from twi_overlay.web.auth import mint_token  # noqa: E402

REWARD = "reward-bench"


class Watch:
    """Reads a server's tap and overlay streams: when each message id was stored, when each redemption id
    reached the overlay."""

    def __init__(self, url: str):
        self.url = url
        self.stored: dict[str, float] = {}
        self.shown: dict[str, float] = {}
        self.ready = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self, http: aiohttp.ClientSession) -> None:
        token = mint_token(SIGNING_KEY, "overlay", BROADCASTER, 3600)[0]
        opened = [asyncio.Event(), asyncio.Event()]
        self.tasks = [
            asyncio.ensure_future(self._read(http, "/_debug/tap", self._tap, opened[0])),
            asyncio.ensure_future(self._read(http, f"/overlay/sse?token={token}", self._overlay, opened[1])),
        ]
        await asyncio.gather(*(o.wait() for o in opened))

    async def _read(self, http: aiohttp.ClientSession, path: str, on: Any, opened: asyncio.Event) -> None:
        async with http.get(self.url + path, timeout=aiohttp.ClientTimeout(total=None)) as r:
            assert r.status == 200, path
            opened.set()
            event = ""
            async for line in r.content:
                if line.startswith(b"event: "):
                    event = line[7:].strip().decode()
                elif line.startswith(b"data: "):
                    on(event, orjson.loads(line[6:]), time.perf_counter())

    def _tap(self, event: str, item: dict[str, Any], at: float) -> None:
        if event == "tap" and item.get("stage") == "ingress" and item.get("ok"):
            self.stored.setdefault(str(item.get("message_id")), at)

    def _overlay(self, event: str, doc: dict[str, Any], at: float) -> None:
        if event == "queue.enqueued":
            entry = doc.get("data", {}).get("entry") or {}
            self.shown.setdefault(str(entry.get("user_input")), at)  # the overlay shows no ids: the note is one

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()


async def drive(rate: float, n: int, send: Any, watch: Watch) -> tuple[list[float], list[float]]:
    """n notifications at `rate` per second, open loop; (sent → stored, sent → overlay) in seconds."""
    sent: dict[str, tuple[str, float]] = {}

    async def one(i: int, at: float) -> None:
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        message_id, redemption_id = str(uuid.uuid4()), str(uuid.uuid4())
        sent[redemption_id] = (message_id, time.perf_counter())
        await send(i, message_id, redemption_id)

    start = time.perf_counter() + 0.1
    await asyncio.gather(*(one(i, start + i / rate) for i in range(n)))
    try:
        await until(lambda: len(watch.shown) == n, 30)
    except TimeoutError:
        pass  # said below, with the counts
    stored = [watch.stored[m] - t for m, t in sent.values() if m in watch.stored]
    shown = [watch.shown[r] - t for r, (_, t) in sent.items() if r in watch.shown]
    if len(shown) < n or len(stored) < n:
        raise SystemExit(f"{watch.url}: only {len(stored)} stored and {len(shown)} shown of {n}")
    return stored, shown


def event(redemption_id: str, i: int) -> dict[str, Any]:
    body = redemption_body(
        BROADCASTER,
        REWARD,
        user_id=f"v{i}",
        user_name=f"viewer{i}",
        user_input=redemption_id,
        redemption_id=redemption_id,
    )
    return dict(body["event"])


async def run(rate: float, seconds: float) -> dict[str, tuple[list[float], list[float]]]:
    n = int(rate * seconds)
    tmp = Path(tempfile.mkdtemp(prefix="bench-transports-"))
    queue = {"max_length": 1000, "per_user_limit": 1}
    for name in ("webhook", "conduit"):
        seed_db(tmp / f"{name}.db", rewards={REWARD: "queue"}, queue=queue)
    fake = FakeTwitch()
    fake.user = {"id": BROADCASTER, "login": "cool_user", "display_name": "Cool_User"}
    fake.rewards[REWARD] = {**fake.rewards.pop(fake.add_reward("Bench")), "id": REWARD}
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    fake_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", fake_port).start()
    base = f"http://127.0.0.1:{fake_port}"
    fake.eventsub.twitch_base = f"ws://127.0.0.1:{fake_port}"
    port = free_port()
    servers = {
        "webhook": ServerProcess(tmp / "webhook.db"),
        "conduit": ServerProcess(
            tmp / "conduit.db",
            port=port,
            EVENTSUB_TRANSPORT="conduit",
            TWITCH_CLIENT_ID=CLIENT_ID,
            TWITCH_CLIENT_SECRET=CLIENT_SECRET,
            TWITCH_API_BASE=base + "/helix",
            TWITCH_AUTH_BASE=base + "/oauth2",
            TWITCH_EVENTSUB_WS_URL=f"ws://127.0.0.1:{fake_port}/ws",
            APP_BASE_URL=f"http://127.0.0.1:{port}",
        ),
    }
    results: dict[str, tuple[list[float], list[float]]] = {}
    try:
        for server in servers.values():
            await asyncio.to_thread(server.start)
        connector = aiohttp.TCPConnector(limit=256)
        async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await sign_in_over_http(http, servers["conduit"].url)
            await until(lambda: len(fake.eventsub.live()) == 2 and len(fake.subscriptions) == 10, 30)
            await asyncio.sleep(1.0)  # the catch-up after the shards came up

            async def by_webhook(i: int, message_id: str, redemption_id: str) -> None:
                headers, raw = delivery(
                    {**redemption_body(BROADCASTER), "event": event(redemption_id, i)}, message_id=message_id
                )
                async with http.post(servers["webhook"].url + "/eventsub/webhook", data=raw, headers=headers) as r:
                    assert r.status == 204, r.status

            async def by_conduit(i: int, message_id: str, redemption_id: str) -> None:
                assert await fake.eventsub.notify(REDEMPTION_ADD, BROADCASTER, event(redemption_id, i), message_id)

            for name, send in (("webhook", by_webhook), ("conduit", by_conduit)):
                watch = Watch(servers[name].url)
                await watch.start(http)
                try:
                    results[name] = await drive(rate, n, send, watch)
                finally:
                    watch.stop()
    finally:
        for server in servers.values():
            await asyncio.to_thread(server.stop)
        await runner.cleanup()
    return results


def report(results: dict[str, tuple[list[float], list[float]]], rate: float, seconds: float) -> None:
    print(f"notification → stored → overlay, {rate:g} events/s for {seconds:g} s (ms, measured by the client):")
    print(f"  {'transport':10s} {'stored p50':>10s} {'p99':>7s}   {'overlay p50':>11s} {'p99':>7s}")
    for name, (stored, shown) in results.items():
        print(
            f"  {name:10s} {pct(stored, 50) * 1000:10.2f} {pct(stored, 99) * 1000:7.2f}"
            f"   {pct(shown, 50) * 1000:11.2f} {pct(shown, 99) * 1000:7.2f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--seconds", type=float, default=5.0, help="at most 1000 events (the queue's largest size)")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    report(asyncio.run(run(args.rate, args.seconds)), args.rate, args.seconds)


if __name__ == "__main__":
    main()
