"""After downtime: redemptions of managed queue rewards still UNFULFILLED on Twitch that we never saw
(the server was down, a delivery was lost) are fetched from Helix, oldest first and page by page, and
go through the same `redemption.add` command as a webhook delivery, deduplicated by redemption id.
Runs at start-up and after each sign-in; a broadcaster Twitch could not answer for (an outage, a 429)
is tried again with backoff until it could, so an outage at start-up loses nothing."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from twi_overlay import repo
from twi_overlay.domain.outcomes import Handled
from twi_overlay.domain.redemptions import ALREADY_HANDLED
from twi_overlay.domain.runner import execute
from twi_overlay.ops import metrics
from twi_overlay.store.database import Database, DatabaseClosed
from twi_overlay.store.tx import Tx
from twi_overlay.twitch.client import ReconsentNeeded, Twitch, TwitchError

log = logging.getLogger(__name__)
RETRY_MIN_SECS = 5.0
RETRY_MAX_SECS = 300.0


def _queue_rewards(tx: Tx, broadcaster_id: str) -> list[str]:
    stored = repo.settings.get(tx, broadcaster_id)
    if stored is None:
        return []
    managed = repo.rewards.managed_ids(tx, broadcaster_id)
    return [rid for rid, binding in stored.doc["rewards"].items() if binding == "queue" and rid in managed]


def _add(tx: Tx, broadcaster_id: str, redemption: dict[str, Any]) -> str:
    reward = redemption.get("reward") or {}
    payload = {
        "redemption_id": redemption["id"],
        "reward_id": reward.get("id", ""),
        "reward_title": reward.get("title", ""),
        "reward_cost": reward.get("cost", 0),
        "user_id": redemption.get("user_id", ""),
        "user_login": redemption.get("user_login", ""),
        "user_name": redemption.get("user_name", ""),
        "user_input": redemption.get("user_input", ""),
        "status": "unfulfilled",
        "redeemed_at": redemption.get("redeemed_at", ""),
    }
    result = execute(
        tx, broadcaster_id, "redemption.add", payload, source="twitch", idempotency_key=f"redemption:{redemption['id']}"
    )
    if not isinstance(result, Handled):
        return "error"
    return "known" if result.replayed or result.reason == ALREADY_HANDLED else result.result


async def catch_up(db: Database, twitch: Twitch, broadcaster_id: str) -> dict[str, int]:
    counts = {"seen": 0, "added": 0}
    for reward_id in await db.read(_queue_rewards, broadcaster_id):
        cursor = None
        while True:
            params = {
                "broadcaster_id": broadcaster_id,
                "reward_id": reward_id,
                "status": "UNFULFILLED",
                "sort": "OLDEST",
                "first": "50",
            }
            if cursor:
                params["after"] = cursor
            try:
                status, body = await twitch.user_helix(
                    broadcaster_id, "GET", "channel_points/custom_rewards/redemptions", params=params
                )
            except ReconsentNeeded:
                return counts
            if status != 200:
                raise TwitchError(status, str(body.get("message", "could not list redemptions")))
            for redemption in body.get("data", []):
                counts["seen"] += 1
                try:
                    if await db.write(_add, broadcaster_id, redemption) not in ("known", "error"):
                        counts["added"] += 1
                except DatabaseClosed:
                    raise
                except Exception:  # one redemption that cannot be added never stops the others
                    metrics.CATCHUP_FAILURES.inc()
                    log.exception("a missed redemption could not be added", extra={"broadcaster_id": broadcaster_id})
            cursor = (body.get("pagination") or {}).get("cursor")
            if not cursor or not body.get("data"):
                break
    if counts["added"]:
        log.info("redemptions made while we were away were queued", extra=counts)
    return counts


def _sync(tx: Tx, broadcaster_id: str, rewards: list[dict[str, Any]], manageable: set[str], listed_at: float) -> None:
    """Twitch's whole list (a channel has at most 50 custom rewards): what is missing was deleted. What
    we wrote after the list was asked for (a reward created, a pause sent meanwhile) is newer than the
    list: it is left as it is."""
    for gone in repo.rewards.stored_before(tx, broadcaster_id, listed_at) - {r["id"] for r in rewards}:
        repo.rewards.set_removed(tx, broadcaster_id, gone)
    newer = repo.rewards.updated_since(tx, broadcaster_id, listed_at)
    for reward in rewards:
        if reward["id"] in newer:
            continue
        store_helix_reward(tx, broadcaster_id, reward)
        repo.rewards.set_managed(tx, broadcaster_id, reward["id"], reward["id"] in manageable)


def store_helix_reward(tx: Tx, broadcaster_id: str, reward: dict[str, Any]) -> repo.rewards.Reward:
    """A reward as Helix describes it (Get or Create Custom Reward)."""
    return repo.rewards.upsert(
        tx,
        broadcaster_id,
        reward["id"],
        title=reward.get("title") or "",
        cost=int(reward.get("cost") or 0),
        is_enabled=bool(reward.get("is_enabled", True)),
        is_paused=bool(reward.get("is_paused", False)),
    )


async def sync_rewards(db: Database, twitch: Twitch, broadcaster_id: str) -> int:
    """The channel's custom rewards, with `managed` from `only_manageable_rewards` (ours to update)."""
    path = "channel_points/custom_rewards"
    listed_at = time.time()
    status, every = await twitch.user_helix(broadcaster_id, "GET", path, params={"broadcaster_id": broadcaster_id})
    status2, ours = await twitch.user_helix(
        broadcaster_id, "GET", path, params={"broadcaster_id": broadcaster_id, "only_manageable_rewards": "true"}
    )
    if status != 200 or status2 != 200:
        raise TwitchError(status if status != 200 else status2, "could not list rewards")
    await db.write(_sync, broadcaster_id, every.get("data", []), {r["id"] for r in ours.get("data", [])}, listed_at)
    return len(every.get("data", []))


async def catch_up_all(db: Database, twitch: Twitch, only: set[str] | None = None) -> set[str]:
    """Every broadcaster with a usable grant (or those of `only`); the ones that failed."""
    failed: set[str] = set()
    for broadcaster_id in await db.read(repo.broadcasters.with_grant):
        if only is not None and broadcaster_id not in only:
            continue
        try:
            await sync_rewards(db, twitch, broadcaster_id)  # first: catch_up needs the managed flags
            await catch_up(db, twitch, broadcaster_id)
        except DatabaseClosed:
            raise
        except Exception:
            log.exception("catching up on redemptions failed", extra={"broadcaster_id": broadcaster_id})
            failed.add(broadcaster_id)
    return failed


async def catch_up_until_done(
    db: Database, twitch: Twitch, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
) -> None:
    """catch_up_all, then again for the broadcasters that failed, backing off up to RETRY_MAX_SECS. A pass
    that fails as a whole (our own database read of who to catch up) is tried again for everyone."""
    left: set[str] | None = None  # None: every broadcaster
    delay = RETRY_MIN_SECS
    while True:
        try:
            left = await catch_up_all(db, twitch, left)
        except DatabaseClosed:
            raise
        except Exception:
            log.exception("a catch-up pass failed; it will run again")
        if left is not None and not left:
            return
        log.warning("catch-up will be tried again", extra={"broadcasters": len(left or ()), "in_secs": delay})
        await sleep(delay)
        delay = min(delay * 2, RETRY_MAX_SECS)


class CatchUpOnRequest:
    """Catch-ups asked for by the conduit transport after each gap, run one at a time: requests made
    while one runs are served by one more pass after it, never by one pass each."""

    def __init__(self, db: Database, twitch: Twitch):
        self.db = db
        self.twitch = twitch
        self._wanted = asyncio.Event()
        self._running = False
        self.requests = 0
        self.passes = 0

    def request(self) -> None:
        self.requests += 1
        self._wanted.set()

    def busy(self) -> bool:
        return self._running or self._wanted.is_set()

    async def run(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            self._running = True
            try:
                await catch_up_until_done(self.db, self.twitch)
            finally:
                self._running = False
            self.passes += 1
