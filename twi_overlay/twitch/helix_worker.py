"""The durable Helix worker: tells Twitch each redemption's outcome (FULFILLED or CANCELED = refund).

Intents are rows in helix_jobs, written in the same transaction as the queue change, so nothing is lost
across restarts. Off the ACK path. Twitch's answers (docs/architecture.md, "Twitch"):
  200 → done for each id in `data` with the asked status; an id missing from `data` is looked up;
  404 → the redemptions are not UNFULFILLED (or not there): looked up with Get Custom Reward Redemption,
        so a refund we sent before a crash ends "refunded", one the streamer fulfilled by hand ends
        "fulfilled", and one Twitch no longer has ends "failed: not found on Twitch";
  403 → reward not created by our client id: managed=false, every pending job for that reward fails;
  401 → one refresh-and-retry (in Twitch.user_helix); refresh refused → needs_reconsent, jobs wait;
  429 → wait until Ratelimit-Reset (not counted as an attempt);
  5xx, network error, an answer that is not JSON → this job's own backoff, doubling up to
        `backoff_max_secs`, and never given up: Twitch keeps UNFULFILLED redemptions;
  other 4xx → failed; the admin page's "retry" makes it pending again.
Each outcome goes on the entry (helix_status) and to the admin stream. Requests carry at most 50 ids
and are spaced by `throttle_secs` (bulk refunds of a cleared queue)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import aiohttp

from twi_overlay import repo
from twi_overlay.domain.events import admin_event
from twi_overlay.domain.rewards import reward_view
from twi_overlay.ops.tap import Tap
from twi_overlay.repo.helix_jobs import HelixJob
from twi_overlay.store.database import Database
from twi_overlay.store.tx import Tx
from twi_overlay.twitch.client import BadAnswer, ReconsentNeeded, Twitch

log = logging.getLogger(__name__)
MAX_IDS = 50
DUE_READ = 500  # jobs read per pass
DONE_STATUS = {"FULFILLED": "fulfilled", "CANCELED": "refunded"}
REDEMPTIONS = "channel_points/custom_rewards/redemptions"
REWARDS = "channel_points/custom_rewards"
UNAVAILABLE = (aiohttp.ClientError, TimeoutError, BadAnswer)


@dataclass(frozen=True)
class Backoff:
    """Delay before the next try after `failures` failures in a row: first, doubling, capped."""

    first: float
    cap: float

    def delay(self, failures: int) -> float:
        return min(self.cap, self.first * 2.0 ** min(failures, 40))


def _emit_result(tx: Tx, job: HelixJob, entry_status: str, result: str) -> None:
    """On the entry, when the redemption has one, and to the admin stream either way."""
    entry = None if job.entry_id is None else repo.queue.set_helix_status(tx, job.entry_id, entry_status)
    tx.emit(
        admin_event(
            job.broadcaster_id,
            "helix.result",
            {
                "entry": None if entry is None else entry.admin_view(),
                "redemption_id": job.redemption_id,
                "action": job.action,
                "result": result,
            },
        )
    )


def _finish(tx: Tx, jobs: Iterable[HelixJob], state: str, result: str, entry_status: str) -> None:
    for job in jobs:
        repo.helix_jobs.finish(tx, job.id, state, result)
        _emit_result(tx, job, entry_status, result)


def _settled(tx: Tx, outcomes: list[tuple[HelixJob, str, str, str]]) -> None:
    for job, state, result, entry_status in outcomes:
        _finish(tx, [job], state, result, entry_status)


def _not_ours(tx: Tx, broadcaster_id: str, reward_id: str) -> list[HelixJob]:
    repo.rewards.set_managed(tx, broadcaster_id, reward_id, False)
    jobs = repo.helix_jobs.pending_for_reward(tx, broadcaster_id, reward_id)
    _finish(tx, jobs, "failed", "403: reward not created by this app", "failed: reward not created by this app")
    return jobs


def _removed(tx: Tx, broadcaster_id: str, reward_id: str) -> None:
    repo.rewards.set_removed(tx, broadcaster_id, reward_id)
    reward = repo.rewards.get(tx, broadcaster_id, reward_id)
    if reward is not None:
        tx.emit(admin_event(broadcaster_id, "reward.updated", {"reward": reward_view(reward)}))


def _retry(tx: Tx, jobs: list[HelixJob], now: float, backoff: Backoff, result: str) -> None:
    """Each job on its own schedule, from its own count of failures."""
    for job in jobs:
        repo.helix_jobs.retry(tx, job.id, now + backoff.delay(job.attempts), result)


def _defer(tx: Tx, jobs: list[HelixJob], at: float, result: str) -> None:
    for job in jobs:
        repo.helix_jobs.defer(tx, job.id, at, result)


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


def _message(body: dict[str, Any]) -> str:
    return str(body.get("message", ""))[:200]


class HelixWorker:
    def __init__(
        self,
        db: Database,
        twitch: Twitch,
        tap: Tap,
        poll_secs: float = 1.0,
        backoff_secs: float = 1.0,
        throttle_secs: float = 0.2,
        backoff_max_secs: float = 300.0,
    ):
        self.db = db
        self.twitch = twitch
        self.tap = tap
        self.poll_secs = poll_secs
        self.backoff = Backoff(backoff_secs, max(backoff_secs, backoff_max_secs))
        self.throttle_secs = throttle_secs
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # one pass at a time: a job is never sent twice concurrently
        # Reward pause sync that failed: (broadcaster, reward) -> (failures in a row, not before).
        self._pause_failures: dict[tuple[str, str], tuple[int, float]] = {}
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
        so nobody spends points into a queue that would refund them; unpaused when it reopens. A reward
        whose update failed waits out its own backoff; one deleted on Twitch is marked removed."""
        now = time.time()
        for broadcaster_id, reward_id, pause in await self.db.read(_pause_mismatches):
            key = (broadcaster_id, reward_id)
            failures, not_before = self._pause_failures.get(key, (0, 0.0))
            if now < not_before:
                continue
            try:
                status, _ = await self.twitch.user_helix(
                    broadcaster_id,
                    "PATCH",
                    REWARDS,
                    params={"broadcaster_id": broadcaster_id, "id": reward_id},
                    json={"is_paused": pause},
                )
            except ReconsentNeeded:
                continue
            except UNAVAILABLE:
                status = 0
            if status == 200:
                self._pause_failures.pop(key, None)
                await self.db.write(_set_paused, broadcaster_id, reward_id, pause)
            elif status == 403:
                self._pause_failures.pop(key, None)
                await self.db.write(_not_ours, broadcaster_id, reward_id)
            elif status == 404:
                self._pause_failures.pop(key, None)
                await self.db.write(_removed, broadcaster_id, reward_id)
            else:
                self._pause_failures[key] = (failures + 1, time.time() + self.backoff.delay(failures))
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

    async def _call(self, broadcaster_id: str, method: str, path: str, **kw: Any) -> tuple[int, dict[str, Any]]:
        """Status 0 when Twitch could not be reached or answered with something unreadable."""
        self.requests += 1
        try:
            return await self.twitch.user_helix(broadcaster_id, method, path, **kw)
        except UNAVAILABLE as exc:
            return 0, {"message": type(exc).__name__}

    async def _update(self, broadcaster_id: str, reward_id: str, action: str, jobs: list[HelixJob]) -> None:
        started = time.perf_counter()
        params = [("broadcaster_id", broadcaster_id), ("reward_id", reward_id)] + [
            ("id", j.redemption_id) for j in jobs
        ]
        try:
            status, body = await self._call(
                broadcaster_id, "PATCH", REDEMPTIONS, params=params, json={"status": action}
            )
        except ReconsentNeeded:
            return  # needs_reconsent is set: these jobs wait for the next sign-in
        if status == 200:
            updated = _statuses(body)
            done = [j for j in jobs if updated.get(j.redemption_id) == action]
            await self.db.write(_finish, done, "done", f"200 {action}", DONE_STATUS[action])
            missing = [j for j in jobs if j not in done]
            if missing:
                await self._look_up(broadcaster_id, reward_id, action, missing)
        elif status == 404:
            await self._look_up(broadcaster_id, reward_id, action, jobs)
        else:
            await self._failed(broadcaster_id, reward_id, jobs, status, body)
        self.tap.record(
            "helix",
            action,
            broadcaster_id,
            None,
            ok=status == 200,
            ms=(time.perf_counter() - started) * 1000,
            status=status,
            ids=len(jobs),
        )

    async def _failed(
        self, broadcaster_id: str, reward_id: str, jobs: list[HelixJob], status: int, body: dict[str, Any]
    ) -> None:
        """Any answer but 200 and 404, for a PATCH or for the lookup after it."""
        now = time.time()
        if status == 403:
            await self.db.write(_not_ours, broadcaster_id, reward_id)
        elif status == 429:
            reset = _number(body.get("_ratelimit_reset"))
            at = reset if reset is not None else now + self.backoff.first
            await self.db.write(_defer, jobs, max(at, now), "429: rate limited")
        elif status == 0 or status >= 500:
            await self.db.write(_retry, jobs, now, self.backoff, f"{status or 'network'}: Twitch unavailable")
        else:  # 400, or 401 after a refresh: our request or token is wrong; record it, do not loop
            message = _message(body)
            await self.db.write(_finish, jobs, "failed", f"{status}: {message}", f"failed: {status} {message}")

    async def _look_up(self, broadcaster_id: str, reward_id: str, action: str, jobs: list[HelixJob]) -> None:
        """Twitch did not update these: ask what it has for them (Get Custom Reward Redemption by id)."""
        params = [("broadcaster_id", broadcaster_id), ("reward_id", reward_id)] + [
            ("id", j.redemption_id) for j in jobs
        ]
        try:
            status, body = await self._call(broadcaster_id, "GET", REDEMPTIONS, params=params)
        except ReconsentNeeded:
            return
        if status == 404:  # the reward itself is gone, and its redemptions with it
            if await self._reward_gone(broadcaster_id, reward_id):
                await self.db.write(_removed, broadcaster_id, reward_id)
            body, status = {"data": []}, 200
        if status != 200:
            await self._failed(broadcaster_id, reward_id, jobs, status, body)
            return
        found = _statuses(body)
        outcomes: list[tuple[HelixJob, str, str, str]] = []
        retry: list[HelixJob] = []
        for job in jobs:
            on_twitch = found.get(job.redemption_id)
            if on_twitch in DONE_STATUS:
                result = f"already {on_twitch} on Twitch"
                outcomes.append((job, "done", result, DONE_STATUS[on_twitch]))
            elif on_twitch is None:
                outcomes.append((job, "failed", "404: not found on Twitch", "failed: not found on Twitch"))
            else:  # still UNFULFILLED (an update racing ours): send it again later
                retry.append(job)
        await self.db.write(_settled, outcomes)
        if retry:
            await self.db.write(_retry, retry, time.time(), self.backoff, f"still {found[retry[0].redemption_id]}")

    async def _reward_gone(self, broadcaster_id: str, reward_id: str) -> bool:
        try:
            status, _ = await self._call(
                broadcaster_id, "GET", REWARDS, params={"broadcaster_id": broadcaster_id, "id": reward_id}
            )
        except ReconsentNeeded:
            return False
        return status == 404

    async def drain(self, limit_secs: float = 10.0) -> None:
        """Until no job is due (tests)."""
        deadline = time.monotonic() + limit_secs
        while time.monotonic() < deadline:
            if not await self.run_once():
                return
        raise TimeoutError("helix jobs still due")


def _statuses(body: dict[str, Any]) -> dict[str, str]:
    """Redemption id → status (uppercase) from a Helix `data` list; anything malformed is left out."""
    data = body.get("data")
    out: dict[str, str] = {}
    for item in data if isinstance(data, list) else []:
        if isinstance(item, dict) and isinstance(item.get("id"), str) and isinstance(item.get("status"), str):
            out[item["id"]] = item["status"].upper()
    return out


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
