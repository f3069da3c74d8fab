"""The outbox of redemption status updates for Twitch (FULFILLED, or CANCELED = refund)."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from twi_overlay.repo.sqlfiles import load
from twi_overlay.store.tx import Tx

Q = load("helix_jobs")


@dataclass(frozen=True, slots=True)
class HelixJob:
    id: int
    broadcaster_id: str
    entry_id: int | None  # None for a refund of a redemption that never entered the queue
    reward_id: str
    redemption_id: str
    action: str  # FULFILLED | CANCELED
    state: str  # pending | done | failed
    attempts: int
    next_attempt_at: float
    result: str | None


def _job(row: sqlite3.Row) -> HelixJob:
    return HelixJob(
        row["id"],
        row["broadcaster_id"],
        row["entry_id"],
        row["reward_id"],
        row["redemption_id"],
        row["action"],
        row["state"],
        row["attempts"],
        row["next_attempt_at"],
        row["result"],
    )


def enqueue(tx: Tx, broadcaster_id: str, entry_id: int | None, reward_id: str, redemption_id: str, action: str) -> bool:
    """One job per redemption: False when the redemption has one already."""
    row = tx.one(
        Q.enqueue,
        {
            "broadcaster_id": broadcaster_id,
            "entry_id": entry_id,
            "reward_id": reward_id,
            "redemption_id": redemption_id,
            "action": action,
            "now": time.time(),
        },
    )
    return row is not None


def pending(tx: Tx, limit: int = 100) -> list[HelixJob]:
    return [_job(r) for r in tx.all(Q.pending, {"limit": limit})]


def due(tx: Tx, now: float, limit: int) -> list[HelixJob]:
    """Pending jobs whose time has come, of broadcasters whose grant we may use."""
    return [_job(r) for r in tx.all(Q.due, {"now": now, "limit": limit})]


def by_redemption(tx: Tx, broadcaster_id: str, redemption_id: str) -> HelixJob | None:
    row = tx.one(Q.by_redemption, {"broadcaster_id": broadcaster_id, "redemption_id": redemption_id})
    return None if row is None else _job(row)


def pending_for_reward(tx: Tx, broadcaster_id: str, reward_id: str) -> list[HelixJob]:
    return [_job(r) for r in tx.all(Q.pending_for_reward, {"broadcaster_id": broadcaster_id, "reward_id": reward_id})]


def finish(tx: Tx, job_id: int, state: str, result: str) -> None:
    tx.execute(Q.finish, {"id": job_id, "state": state, "result": result, "now": time.time()})


def retry(tx: Tx, job_id: int, at: float, result: str) -> None:
    tx.execute(Q.retry, {"id": job_id, "next_attempt_at": at, "result": result, "now": time.time()})


def defer(tx: Tx, job_id: int, at: float, result: str) -> None:
    tx.execute(Q.defer, {"id": job_id, "next_attempt_at": at, "result": result, "now": time.time()})


def restart(tx: Tx, broadcaster_id: str, redemption_id: str) -> HelixJob | None:
    """A failed job pending again, due now; None when there is no failed job for that redemption."""
    row = tx.one(Q.restart, {"broadcaster_id": broadcaster_id, "redemption_id": redemption_id, "now": time.time()})
    return None if row is None else _job(row)


@dataclass(frozen=True, slots=True)
class FailedJob:
    job: HelixJob
    user_name: str | None  # of the queue entry, when the redemption had one

    def view(self) -> dict[str, object]:
        return {
            "redemption_id": self.job.redemption_id,
            "reward_id": self.job.reward_id,
            "entry_id": self.job.entry_id,
            "user_name": self.user_name,
            "action": self.job.action,
            "result": self.job.result,
            "attempts": self.job.attempts,
        }


def failed(tx: Tx, broadcaster_id: str, limit: int) -> list[FailedJob]:
    return [
        FailedJob(_job(r), r["user_name"]) for r in tx.all(Q.failed, {"broadcaster_id": broadcaster_id, "limit": limit})
    ]
