"""The outbox: one job per redemption; due jobs only for broadcasters whose grant we may use."""

from __future__ import annotations

from tests.conftest import add_broadcaster
from twi_overlay import repo
from twi_overlay.store.database import Database


async def test_one_job_per_redemption_and_due_waits_for_a_grant(db: Database) -> None:
    await db.write(add_broadcaster)
    assert await db.write(repo.helix_jobs.enqueue, "1337", None, "w", "red-1", "CANCELED") is True
    assert await db.write(repo.helix_jobs.enqueue, "1337", None, "w", "red-1", "FULFILLED") is False
    assert [j.action for j in await db.read(repo.helix_jobs.pending)] == ["CANCELED"]
    far = 10**10
    assert await db.read(repo.helix_jobs.due, far, 10) == []  # never connected Twitch: it waits, kept
    await db.write(repo.tokens.store, "1337", "access", "refresh", 0.0, ("s",))
    [job] = await db.read(repo.helix_jobs.due, far, 10)
    await db.write(repo.helix_jobs.retry, job.id, far + 5, "503: Twitch unavailable")
    assert await db.read(repo.helix_jobs.due, far, 10) == []  # not before its next attempt
    [again] = await db.read(repo.helix_jobs.due, far + 5, 10)
    assert again.attempts == 1 and again.result == "503: Twitch unavailable"
    await db.write(repo.helix_jobs.finish, job.id, "done", "200 CANCELED")
    assert (
        await db.read(repo.helix_jobs.pending) == []
        and await db.read(repo.helix_jobs.pending_for_reward, "1337", "w") == []
    )
