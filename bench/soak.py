"""A soak run: the real server for minutes under mixed load, killed every minute, with a Twitch that
fails, then a check that every redemption ended right.

    python bench/soak.py [--minutes 10] [--clients 200] [--kill-every 60] [--seed 1]

What runs, against one server process (a real SQLite file) and a fake Twitch in this process:
- redemptions made on the fake Twitch and delivered as signed webhooks, retried until a 2xx as Twitch
  does; some delivered twice (same message id), some again under a new message id, some from a viewer
  already waiting (the rules reject them: a refund);
- admin commands: complete, refund, move, pick (each with an Idempotency-Key, retried until answered);
- SSE clients (admin and overlay) that read for a random while, disconnect and resume with
  Last-Event-ID, keeping their own copy of the queue from the events as the pages do;
- Helix answering 20 % of calls with 503 or 429, and down for a whole minute;
- `kill -9` and a restart every `--kill-every` seconds;
- in the middle, the TTL job run with the clock 80 h ahead (the command log of every redemption so
  far expires; the next restart's catch-up meets them all again).

At the end (Twitch healthy again, every status update settled) it checks:
- every acknowledged redemption is in exactly one state: waiting/picked (queued here, UNFULFILLED on
  Twitch), fulfilled (completed here, FULFILLED there) or refunded (canceled or rejected here,
  CANCELED there);
- Twitch accepted at most one status update per redemption, and none was refunded while its entry is
  queued or completed;
- every SSE client's final queue and counters equal `GET /api/state`;
- the server's RSS stayed under `--rss-mb`.
It prints the counts and exits non-zero when an invariant fails. tests/system/test_soak.py runs a
short version.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, SIGNING_KEY, UNCAPPED, ServerProcess, free_port, machine, rss_bytes  # noqa: E402

from tests.fake_twitch import CLIENT_ID, CLIENT_SECRET, FakeTwitch  # noqa: E402
from tests.helpers import delivery, redemption_body  # noqa: E402
from twi_overlay.web.auth import mint_token  # noqa: E402

USER = "5550001"  # the fake Twitch's streamer


@dataclass
class Config:
    minutes: float = 10.0
    clients: int = 200
    kill_every: float = 60.0
    outage_at: float = 0.3  # share of the run when Helix goes down for `outage_secs`
    outage_secs: float = 60.0
    fail_rate: float = 0.2
    redemptions_per_sec: float = 8.0
    commands_per_sec: float = 6.0
    rss_mb: float = 250.0
    seed: int = 1


@dataclass
class Report:
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    rss_max_mb: float = 0.0
    duration_s: float = 0.0

    def fail(self, message: str) -> None:
        if len(self.failures) < 50:
            self.failures.append(message)


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SIGNING_KEY, 'admin', USER, 3600)[0]}"}


# -- a page's copy of the state, from the events --------------------------------------------------
class Model:
    def __init__(self) -> None:
        self.queue: list[dict[str, Any]] = []
        self.counters: dict[str, int] = {}

    def _renumber(self) -> None:
        for i, e in enumerate(self.queue):
            e["position"] = i + 1

    def _without(self, ids: set[int]) -> None:
        self.queue = [e for e in self.queue if e["id"] not in ids]
        self._renumber()

    def apply(self, type_: str, d: dict[str, Any]) -> None:
        if type_ == "state.replace":
            self.queue = list(d.get("queue") or [])
            self.counters = dict(d.get("counters") or {})
        elif type_ == "queue.enqueued":
            self.queue = [e for e in self.queue if e["id"] != d["entry"]["id"]] + [d["entry"]]
            self.queue.sort(key=lambda e: e["position"])
            self._renumber()
        elif type_ == "queue.picked":
            by_id = {e["id"]: e for e in d["entries"]}
            self.queue = [by_id.get(e["id"], e) for e in self.queue]
        elif type_ in ("queue.completed", "queue.canceled"):
            self._without({d["entry"]["id"]})
        elif type_ == "queue.cleared":
            self._without(set(d["entry_ids"]))
        elif type_ == "queue.moved":
            entry = d["entry"]
            rest = [e for e in self.queue if e["id"] != entry["id"]]
            rest.insert(max(0, min(len(rest), entry["position"] - 1)), entry)
            self.queue = rest
            self._renumber()
        elif type_ == "counter.updated":
            self.counters[d["name"]] = d["value"]

    def view(self) -> tuple[list[tuple[int, int, str]], dict[str, int]]:
        return [(e["id"], e["position"], e["status"]) for e in self.queue], self.counters


class Soak:
    def __init__(self, cfg: Config, folder: Path):
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.folder = folder
        self.db_path = folder / "app.db"
        self.fake = FakeTwitch(rng=random.Random(cfg.seed + 1))
        self.report = Report()
        self.stop = asyncio.Event()
        self.acked: set[str] = set()  # redemption ids with at least one 2xx
        self.made: list[str] = []
        self.waiting_users: list[str] = []
        self.reward = ""
        self.server: ServerProcess | None = None
        self.models: list[Model] = []
        self.end_marker = 0
        self.inflight: set[asyncio.Future[None]] = set()  # deliveries still being retried

    # -- set-up -------------------------------------------------------------------------------------
    async def start(self) -> None:
        from twi_overlay.store.migrate import migrate

        self.runner = web.AppRunner(self.fake.app())
        await self.runner.setup()
        fake_port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", fake_port).start()
        base = f"http://127.0.0.1:{fake_port}"
        port = free_port()
        migrate(str(self.db_path))
        self.server = ServerProcess(
            self.db_path,
            port=port,
            TWITCH_CLIENT_ID=CLIENT_ID,
            TWITCH_CLIENT_SECRET=CLIENT_SECRET,
            TWITCH_AUTH_BASE=base + "/oauth2",
            TWITCH_API_BASE=base + "/helix",
            APP_BASE_URL=f"http://127.0.0.1:{port}",
            OAUTH_REDIRECT_URI=f"http://127.0.0.1:{port}/oauth/callback",
            HELIX_BACKOFF_MAX_SECS="10",  # so the run settles soon after the outage; production: 300
            HELIX_THROTTLE_SECS="0.02",
            **UNCAPPED,
        ).start()
        self.url = self.server.url
        self.session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            timeout=aiohttp.ClientTimeout(total=15),
            connector=aiohttp.TCPConnector(limit=0),  # the SSE clients hold one connection each
        )
        await self._sign_in()

    async def _sign_in(self) -> None:
        s = self.session
        async with s.get(self.url + "/oauth/login", allow_redirects=False) as r:
            authorize = r.headers["Location"]
        async with s.get(authorize, allow_redirects=False) as r:
            callback = r.headers["Location"]
        async with s.get(callback, allow_redirects=False) as r:
            assert r.status == 302, await r.text()
        h = admin_headers()
        async with s.post(
            self.url + "/api/rewards", json={"title": "Join", "cost": 10, "bind": "queue"}, headers=h
        ) as r:
            assert r.status == 201, await r.text()
            self.reward = (await r.json())["id"]
        async with s.get(self.url + "/api/state", headers=h) as r:
            version = (await r.json())["settings"]["version"]
        await self.command(
            "settings.update", {"version": version, "settings": {"queue": {"max_length": 1000, "per_user_limit": 1}}}
        )

    # -- load -----------------------------------------------------------------------------------------
    async def post_until_answered(self, path: str, **kw: Any) -> tuple[int, Any]:
        while True:
            try:
                async with self.session.post(self.url + path, **kw) as r:
                    body = await r.read()
                    if r.status < 500:
                        return r.status, body
            except (aiohttp.ClientError, TimeoutError, ConnectionError):
                pass
            await asyncio.sleep(0.2)

    async def command(self, type_: str, payload: dict[str, Any]) -> tuple[int, Any]:
        headers = {**admin_headers(), "Idempotency-Key": str(uuid.uuid4())}
        status, body = await self.post_until_answered(
            "/api/commands", json={"type": type_, "payload": payload}, headers=headers
        )
        return status, json.loads(body) if body else None

    async def deliver(self, body: dict[str, Any], message_id: str | None = None) -> None:
        headers, raw = delivery(body, message_id=message_id)
        status, _ = await self.post_until_answered("/eventsub/webhook", data=raw, headers=headers)
        if 200 <= status < 300:
            self.acked.add(body["event"]["id"])
        else:
            self.report.fail(f"delivery answered {status}")

    async def redemptions(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            if self.waiting_users and self.rng.random() < 0.1:
                user = self.rng.choice(self.waiting_users)  # already waiting: rejected, then refunded
            else:
                user = f"viewer{n}"
                self.waiting_users.append(user)
                del self.waiting_users[:-200]
            rid = self.fake.add_redemption(self.reward, user_name=user, user_id=f"u-{user}", user_input="song")
            self.made.append(rid)
            body = redemption_body(
                broadcaster_id=USER, reward_id=self.reward, user_id=f"u-{user}", user_name=user, redemption_id=rid
            )
            headers, _ = delivery(body)
            mid = headers["Twitch-Eventsub-Message-Id"]
            task = asyncio.ensure_future(self._deliver_variants(body, mid))
            self.inflight.add(task)
            task.add_done_callback(self.inflight.discard)
            await asyncio.sleep(self.rng.expovariate(self.cfg.redemptions_per_sec))

    async def _deliver_variants(self, body: dict[str, Any], mid: str) -> None:
        await self.deliver(body, mid)
        r = self.rng.random()
        if r < 0.1:
            await self.deliver(body, mid)  # a retry of the same message
            self.report.counts["duplicate_deliveries"] = self.report.counts.get("duplicate_deliveries", 0) + 1
        elif r < 0.15:
            await self.deliver(body)  # the same redemption under a new message id
            self.report.counts["redelivered_new_id"] = self.report.counts.get("redelivered_new_id", 0) + 1

    async def commands(self) -> None:
        while not self.stop.is_set():
            await asyncio.sleep(self.rng.expovariate(self.cfg.commands_per_sec))
            try:
                async with self.session.get(self.url + "/api/state", headers=admin_headers()) as r:
                    queue = (await r.json())["queue"] if r.status == 200 else []
            except (aiohttp.ClientError, TimeoutError, ConnectionError):
                continue
            if not queue:
                continue
            entry = self.rng.choice(queue)
            r = self.rng.random()
            if r < 0.4:
                await self.command("queue.complete", {"entry_id": entry["id"]})
            elif r < 0.65:
                await self.command("queue.cancel", {"entry_id": entry["id"]})
            elif r < 0.85:
                await self.command("queue.move", {"entry_id": entry["id"], "position": self.rng.randint(1, len(queue))})
            else:
                await self.command("queue.pick", {"count": 1})
            self.report.counts["admin_commands"] = self.report.counts.get("admin_commands", 0) + 1

    def caught_up(self, model: Model) -> bool:
        return bool(self.end_marker) and model.counters.get("soak_end") == self.end_marker

    async def sse_client(self, i: int) -> None:
        aud = "admin" if i % 4 == 0 else "overlay"
        model = Model()
        self.models.append(model)
        last: str | None = None
        token = mint_token(SIGNING_KEY, aud, USER, 24 * 3600)[0]
        while not self.caught_up(model):
            final = self.stop.is_set()
            until = time.monotonic() + self.rng.uniform(1, 20)
            headers = {"Last-Event-ID": last} if last else {}
            try:
                async with self.session.get(
                    f"{self.url}/{aud}/sse?token={token}",
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=None, sock_read=60),
                ) as r:
                    self.report.counts["sse_connects"] = self.report.counts.get("sse_connects", 0) + 1
                    event, data, frame_id = None, None, last
                    while final or time.monotonic() < until:
                        line = await r.content.readline()
                        if not line:
                            break
                        text = line.decode().rstrip("\n")
                        if text.startswith("id: "):
                            frame_id = text[4:]  # the last event id only once its event is dispatched
                        elif text.startswith("event: "):
                            event = text[7:]
                        elif text.startswith("data: "):
                            data = json.loads(text[6:])["data"]
                        elif text == "" and event is not None:
                            model.apply(event, data)
                            last = frame_id
                            if event == "state.replace":
                                self.report.counts["sse_snapshots"] = self.report.counts.get("sse_snapshots", 0) + 1
                            event = None
                            if self.caught_up(model):
                                return
            except (aiohttp.ClientError, TimeoutError, ConnectionError, ValueError):
                pass
            await asyncio.sleep(self.rng.uniform(0.05, 0.5))

    # -- trouble --------------------------------------------------------------------------------------
    async def killer(self) -> None:
        assert self.server is not None
        while True:
            try:
                await asyncio.wait_for(self.stop.wait(), self.cfg.kill_every)
                return
            except TimeoutError:
                pass
            self.server.kill9()
            self.report.counts["kill9"] = self.report.counts.get("kill9", 0) + 1
            await asyncio.to_thread(self.server.start)

    async def twitch_trouble(self, total: float) -> None:
        self.fake.fail_rate = self.cfg.fail_rate
        await asyncio.sleep(total * self.cfg.outage_at)
        self.fake.down = True
        await asyncio.sleep(self.cfg.outage_secs)
        self.fake.down = False

    async def ttl_ahead(self, total: float) -> None:
        await asyncio.sleep(total / 2)
        code = (
            "import asyncio, json, sys, time\n"
            "from twi_overlay.store.database import Database\n"
            "from twi_overlay.ops.jobs import maintenance\n"
            "async def main():\n"
            "    db = Database(sys.argv[1]); await db.open()\n"
            "    try: print(json.dumps(await maintenance(db, 72.0, now=time.time() + 80 * 3600)))\n"
            "    finally: await db.close()\n"
            "asyncio.run(main())\n"
        )
        out = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-c", code, str(self.db_path)], cwd=ROOT, capture_output=True, text=True
        )
        if out.returncode != 0:
            self.report.fail(f"TTL run failed: {out.stderr[-500:]}")
            return
        deleted = json.loads(out.stdout.strip().splitlines()[-1])["deleted"]
        self.report.counts["ttl_deleted_command_log"] = deleted.get("command_log", 0)
        self.report.counts["ttl_deleted_event_raw"] = deleted.get("event_raw", 0)

    async def memory(self) -> None:
        assert self.server is not None
        while not self.stop.is_set():
            proc = self.server.proc
            if proc is not None and proc.poll() is None:
                try:
                    self.report.rss_max_mb = max(self.report.rss_max_mb, rss_bytes(proc.pid) / 2**20)
                except OSError:
                    pass
            await asyncio.sleep(1)

    # -- the run --------------------------------------------------------------------------------------
    async def run(self) -> Report:
        started = time.monotonic()
        await self.start()
        total = self.cfg.minutes * 60
        clients = [asyncio.ensure_future(self.sse_client(i)) for i in range(self.cfg.clients)]
        side = [
            asyncio.ensure_future(c)
            for c in (self.killer(), self.twitch_trouble(total), self.ttl_ahead(total), self.memory())
        ]
        load = [asyncio.ensure_future(self.redemptions()), asyncio.ensure_future(self.commands())]
        await asyncio.sleep(total)
        self.stop.set()
        await asyncio.gather(*load)
        await asyncio.gather(*side)
        self.fake.fail_rate, self.fake.down = 0.0, False
        # Let every delivery in flight land, the backlog be processed, every status update settle.
        await asyncio.gather(*self.inflight)
        self.log(f"load stopped; {len(self.acked)} redemptions acknowledged; settling")
        await self.settle()
        self.log("settled; sending the end marker")
        self.end_marker = self.rng.randint(1, 10**9)
        await self.command("counter.set", {"name": "soak_end", "value": self.end_marker})
        done, pending = await asyncio.wait(clients, timeout=120)
        if pending:
            stuck = [m.counters.get("soak_end") for m in self.models]
            self.report.fail(f"{len(pending)} SSE clients never saw the end marker ({stuck[:5]} ...)")
            for task in pending:
                task.cancel()
        await self.check()
        self.report.duration_s = time.monotonic() - started
        return self.report

    def log(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    async def settle(self, limit: float = 180.0) -> None:
        deadline = time.monotonic() + limit
        conn = sqlite3.connect(self.db_path)
        try:
            while True:
                left = conn.execute(
                    "SELECT (SELECT count(*) FROM event_raw WHERE processed_at IS NULL)"
                    " + (SELECT count(*) FROM helix_jobs WHERE state = 'pending')"
                ).fetchone()[0]
                if not left:
                    return
                if time.monotonic() > deadline:
                    self.report.fail(f"{left} deliveries or status updates still pending after {limit:.0f} s")
                    return
                await asyncio.sleep(0.5)
        finally:
            conn.close()

    async def check(self) -> None:
        rep = self.report
        conn = sqlite3.connect(self.db_path)
        entries = {
            r[0]: r[1]
            for r in conn.execute("SELECT redemption_id, status FROM queue_entries WHERE redemption_id IS NOT NULL")
        }
        jobs = {
            r[0]: (r[1], r[2], r[3])
            for r in conn.execute("SELECT redemption_id, action, state, result FROM helix_jobs")
        }
        conn.close()
        states = {"waiting/picked": 0, "fulfilled": 0, "refunded": 0}
        for rid in self.acked:
            on_twitch = self.fake.redemptions[rid]["status"]
            entry = entries.get(rid)
            if on_twitch == "UNFULFILLED":
                state, ok = "waiting/picked", entry in ("waiting", "picked") and rid not in jobs
            elif on_twitch == "FULFILLED":
                state, ok = "fulfilled", entry == "completed"
            else:
                state, ok = "refunded", entry in ("canceled", None)
            states[state] += 1
            if entry is None and rid not in jobs:
                rep.fail(f"{rid}: acknowledged but neither queued nor refunded (lost)")
            elif not ok:
                rep.fail(f"{rid}: Twitch has {on_twitch}, our entry is {entry}, job {jobs.get(rid)}")
        for rid, taken in self.fake.accepted.items():
            if len(taken) > 1:
                rep.fail(f"{rid}: Twitch accepted {len(taken)} status updates {taken}")
        rep.counts.update(
            {
                "redemptions": len(set(self.made)),
                "acknowledged": len(self.acked),
                **{f"final_{k}": v for k, v in states.items()},
                "status_updates_accepted": sum(len(v) for v in self.fake.accepted.values()),
                "status_updates_failed": sum(1 for j in jobs.values() if j[1] == "failed"),
                "helix_faults_sent": self.fake.faults_sent,
            }
        )
        async with self.session.get(self.url + "/api/state", headers=admin_headers()) as r:
            state = await r.json()
        want = [(e["id"], e["position"], e["status"]) for e in state["queue"]], state["counters"]
        differ = sum(1 for m in self.models if m.view() != want)
        rep.counts["sse_clients_checked"] = len(self.models)
        if differ:
            rep.fail(f"{differ} of {len(self.models)} SSE clients ended with a state other than GET /api/state")
            for m in self.models:
                if m.view() != want:
                    q, c = m.view()
                    extra = [e for e in q if e not in want[0]][:3]
                    missing = [e for e in want[0] if e not in q][:3]
                    rep.fail(
                        f"  e.g. {len(q)} entries (want {len(want[0])}), extra {extra}, missing {missing}, counters {c}"
                    )
                    break
        if rep.rss_max_mb > self.cfg.rss_mb:
            rep.fail(f"server RSS reached {rep.rss_max_mb:.0f} MB (bound {self.cfg.rss_mb:.0f} MB)")

    async def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        await self.session.close()
        await self.runner.cleanup()


async def soak(cfg: Config, folder: Path) -> Report:
    s = Soak(cfg, folder)
    try:
        return await s.run()
    finally:
        await s.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--kill-every", type=float, default=60.0)
    ap.add_argument("--outage-secs", type=float, default=60.0)
    ap.add_argument("--rss-mb", type=float, default=250.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    cfg = Config(
        minutes=args.minutes,
        clients=args.clients,
        kill_every=args.kill_every,
        outage_secs=args.outage_secs,
        rss_mb=args.rss_mb,
        seed=args.seed,
    )
    print(f"machine: {machine()}")
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    report = asyncio.run(soak(cfg, folder))
    print(f"soak: {cfg.minutes:g} min of load, {report.duration_s:.0f} s in all, {cfg.clients} SSE clients")
    for k, v in sorted(report.counts.items()):
        print(f"  {k:28s} {v}")
    print(f"  server RSS max             {report.rss_max_mb:.0f} MB (bound {cfg.rss_mb:.0f} MB)")
    if report.failures:
        print("FAILED:")
        for f in report.failures:
            print(f"  {f}")
        sys.exit(1)
    print("every invariant held")


if __name__ == "__main__":
    main()
