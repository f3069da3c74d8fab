"""kill -9 in the middle of a burst: every delivery that got a 2xx is processed exactly once."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import ServerProcess, delivery, redemption_body, seed_db

pytestmark = pytest.mark.slow


async def test_kill9_mid_burst_loses_and_doubles_nothing(tmp_path: Path) -> None:
    db_path = tmp_path / "app.db"
    seed_db(db_path, rewards={"reward-hit": "counter:hits"})
    server = ServerProcess(db_path).start()
    acked: set[str] = set()
    total = 3000
    kill_after = 600
    killed = asyncio.Event()
    try:
        async with aiohttp.ClientSession() as session:
            queue: asyncio.Queue[int] = asyncio.Queue()
            for i in range(total):
                queue.put_nowait(i)

            async def worker() -> None:
                while not queue.empty() and not killed.is_set():
                    i = queue.get_nowait()
                    headers, raw = delivery(redemption_body(reward_id="reward-hit", user_id=str(i)))
                    try:
                        async with session.post(server.url + "/eventsub/webhook", data=raw, headers=headers) as r:
                            if r.status == 204:
                                acked.add(headers["Twitch-Eventsub-Message-Id"])
                    except (aiohttp.ClientError, ConnectionError):
                        return
                    if len(acked) >= kill_after and not killed.is_set():
                        killed.set()
                        server.kill9()

            await asyncio.gather(*(worker() for _ in range(32)))
        assert killed.is_set(), "the server was not killed mid-burst"
        assert len(acked) < total
        # Restart on the same file; the rows stored but not yet processed are processed now.
        server = ServerProcess(db_path, port=server.port).start()
        conn = sqlite3.connect(db_path)
        deadline = time.monotonic() + 30
        while conn.execute("SELECT count(*) FROM event_raw WHERE processed_at IS NULL").fetchone()[0]:
            assert time.monotonic() < deadline, "stored deliveries were not processed after restart"
            await asyncio.sleep(0.05)
        rows = dict(conn.execute("SELECT message_id, outcome FROM event_raw").fetchall())
        hits = conn.execute("SELECT value FROM counters WHERE name = 'hits'").fetchone()[0]
        logged = conn.execute(
            "SELECT count(*) FROM command_log WHERE idempotency_key LIKE 'redemption:%' AND result = 'ok'"
        ).fetchone()[0]
        conn.close()
        missing = acked - rows.keys()
        assert not missing, f"{len(missing)} acknowledged deliveries were lost"
        assert all(rows[m] == "ok" for m in acked)
        # Exactly once: one increment and one log row per stored delivery (each a distinct redemption).
        assert hits == len(rows) == logged
        assert len(rows) >= len(acked)
        print(f"acked={len(acked)} stored={len(rows)} hits={hits}")
    finally:
        server.stop()
