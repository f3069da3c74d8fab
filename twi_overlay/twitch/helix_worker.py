"""The durable Helix worker: tells Twitch each redemption's outcome (FULFILLED or CANCELED = refund).

Intents are rows in helix_jobs, written in the same transaction as the queue change, so nothing is lost
across restarts. Off the ACK path. Twitch's answers (docs/architecture.md, "Twitch"):
  200 → done; 404 → already updated on Twitch, done; 403 → reward not created by our client id:
  managed=false, every pending job for that reward fails, never retried; 401 → one refresh-and-retry
  (in Twitch.user_helix); refresh refused → broadcaster needs_reconsent, its jobs wait;
  429 → retry at Ratelimit-Reset; 5xx or network error → exponential backoff, then give up.
Each outcome goes on the entry (helix_status) and to the admin stream. Requests carry at most 50 ids
and are spaced by `throttle_secs` (bulk refunds of a cleared queue)."""

from __future__ import annotations

import asyncio
import logging
import time
from itertools import groupby

import aiohttp

from twi_overlay import repo
from twi_overlay.domain.events import admin_event
from twi_overlay.domain.rewards import reward_view
from twi_overlay.ops.tap import Tap
from twi_overlay.repo.helix_jobs import HelixJob
from twi_overlay.store.database import Database
from twi_overlay.store.tx import Tx
from twi_overlay.twitch.client import ReconsentNeeded, Twitch

log = logging.getLogger(__name__)
MAX_IDS = 50
MAX_ATTEMPTS = 10
DUE_READ = 500  # jobs read per pass
DONE_STATUS = {"FULFILLED": "fulfilled", "CANCELED": "refunded"}


def _finish(tx: Tx, jobs: list[HelixJob], state: str, result: str, entry_status: str) -> None:
    for job in jobs:
        repo.helix_jobs.finish(tx, job.id, state, result)
        if job.entry_id is not None:
            entry = repo.queue.set_helix_status(tx, job.entry_id, entry_status)
            if entry is not None:
                tx.emit(
                    admin_event(
                        job.broadcaster_id,
                        "helix.result",
                        {"entry": entry.admin_view(), "action": job.action, "result": result},
                    )
                )


def _not_ours(tx: Tx, broadcaster_id: str, reward_id: str) -> list[HelixJob]:
    repo.rewards.set_managed(tx, broadcaster_id, reward_id, False)
    jobs = repo.helix_jobs.pending_for_reward(tx, broadcaster_id, reward_id)
    _finish(tx, jobs, "failed", "403: reward not created by this app", "failed: reward not created by this app")
    return jobs


def _retry(tx: Tx, jobs: list[HelixJob], at: float, result: str) -> None:
    for job in jobs:
        if job.attempts + 1 >= MAX_ATTEMPTS:
            _finish(tx, [job], "failed", result, f"failed: {result}")
        else:
            repo.helix_jobs.retry(tx, job.id, at, result)


def _pause_mismatches(tx: Tx) -> list[tuple[str, str, bool]]:
    out = []
    for broadcaster_id in repo.broadcasters.with_grant(tx):
        stored = repo.settings.get(tx, broadcaster_id)
        if stored is None:
            continue
        doc = stored.doc
        queue_rewards = [rid for rid, binding in doc["rewards"].items() if binding == "queue"]
        if not queue_rewards:
            continue
        pause = not doc["queue"]["open"] or repo.queue.length(tx, broadcaster_id) >= doc["queue"]["max_length"]
        for rid in queue_rewards:
            reward = repo.rewards.get(tx, broadcaster_id, rid)
            ours = reward is not None and reward.managed is True and not reward.removed
            if ours and reward is not None and reward.is_paused != pause:
                out.append((broadcaster_id, rid, pause))
    return out


def _set_paused(tx: Tx, broadcaster_id: str, reward_id: str, paused: bool) -> None:
    repo.rewards.set_paused(tx, broadcaster_id, reward_id, paused)
    reward = repo.rewards.get(tx, broadcaster_id, reward_id)
    if reward is not None:
        tx.emit(admin_event(broadcaster_id, "reward.updated", {"reward": reward_view(reward)}))


class HelixWorker:
    def __init__(
        self,
        db: Database,
        twitch: Twitch,
        tap: Tap,
        poll_secs: float = 1.0,
        backoff_secs: float = 1.0,
        throttle_secs: float = 0.2,
    ):
        self.db = db
        self.twitch = twitch
        self.tap = tap
        self.poll_secs = poll_secs
        self.backoff_secs = backoff_secs
        self.throttle_secs = throttle_secs
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # one pass at a time: a job is never sent twice concurrently
        self.requests = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                worked = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("helix worker pass failed")
                worked = False
            if not worked:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_secs)
                except TimeoutError:
                    pass

    async def run_once(self) -> bool:
        async with self._lock:
            worked = await self._pass()
            await self._sync_pauses()
            return worked

    async def _sync_pauses(self) -> None:
        """Level-triggered: managed queue rewards are paused on Twitch while the queue is closed or full,
        so nobody spends points into a queue that would refund them; unpaused when it reopens."""
        for broadcaster_id, reward_id, pause in await self.db.read(_pause_mismatches):
            try:
                status, _ = await self.twitch.user_helix(
                    broadcaster_id,
                    "PATCH",
                    "channel_points/custom_rewards",
                    params={"broadcaster_id": broadcaster_id, "id": reward_id},
                    json={"is_paused": pause},
                )
            except ReconsentNeeded:
                continue
            except (aiohttp.ClientError, TimeoutError):
                continue  # next pass tries again
            if status == 200:
                await self.db.write(_set_paused, broadcaster_id, reward_id, pause)
            elif status == 403:
                await self.db.write(_not_ours, broadcaster_id, reward_id)
            self.tap.record(
                "helix",
                "reward.pause" if pause else "reward.unpause",
                broadcaster_id,
                None,
                ok=status == 200,
                status=status,
            )

    async def _pass(self) -> bool:
        jobs = await self.db.read(repo.helix_jobs.due, time.time(), DUE_READ)
        if not jobs:
            return False

        def key(job: HelixJob) -> tuple[str, str, str]:
            return job.broadcaster_id, job.reward_id, job.action

        for (broadcaster_id, reward_id, action), group in groupby(sorted(jobs, key=key), key=key):
            batch = list(group)
            for i in range(0, len(batch), MAX_IDS):
                await self._update(broadcaster_id, reward_id, action, batch[i : i + MAX_IDS])
                await asyncio.sleep(self.throttle_secs)
        return True

    async def _update(self, broadcaster_id: str, reward_id: str, action: str, jobs: list[HelixJob]) -> None:
        started = time.perf_counter()
        params = [("broadcaster_id", broadcaster_id), ("reward_id", reward_id)] + [
            ("id", j.redemption_id) for j in jobs
        ]
        self.requests += 1
        try:
            status, body = await self.twitch.user_helix(
                broadcaster_id,
                "PATCH",
                "channel_points/custom_rewards/redemptions",
                params=params,
                json={"status": action},
            )
            headers_reset = body.get("_ratelimit_reset") if isinstance(body, dict) else None
        except ReconsentNeeded:
            return  # needs_reconsent is set: these jobs wait for the next sign-in
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, body, headers_reset = 0, {"message": type(exc).__name__}, None
        outcome = DONE_STATUS[action]
        if status == 200:
            await self.db.write(_finish, jobs, "done", f"200 {action}", outcome)
        elif status == 404:  # already FULFILLED/CANCELED on Twitch (or gone): nothing left to do
            await self.db.write(_finish, jobs, "done", "404: already updated", outcome)
        elif status == 403:
            await self.db.write(_not_ours, broadcaster_id, reward_id)
        elif status == 429:
            at = float(headers_reset) if headers_reset else time.time() + self.backoff_secs
            await self.db.write(_retry, jobs, max(at, time.time()), "429: rate limited")
        elif status == 0 or status >= 500:
            delay = min(300.0, self.backoff_secs * 2 ** jobs[0].attempts)
            await self.db.write(_retry, jobs, time.time() + delay, f"{status or 'network'}: Twitch unavailable")
        else:  # 400/401 after refresh: our request or token is wrong; record it, do not loop
            message = str(body.get("message", ""))[:200] if isinstance(body, dict) else ""
            await self.db.write(_finish, jobs, "failed", f"{status}: {message}", f"failed: {status} {message}")
        self.tap.record(
            "helix",
            action,
            broadcaster_id,
            None,
            ok=status in (200, 404),
            ms=(time.perf_counter() - started) * 1000,
            status=status,
            ids=len(jobs),
        )

    async def drain(self, limit_secs: float = 10.0) -> None:
        """Until no job is due (tests)."""
        deadline = time.monotonic() + limit_secs
        while time.monotonic() < deadline:
            if not await self.run_once():
                return
        raise TimeoutError("helix jobs still due")
