"""Redemption status updates through the durable Helix worker, against the fake Twitch."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import update_settings
from tests.helpers import delivery, redemption_body
from tests.twitch.helpers import USER, app_owned_queue_reward, entries, history, redeem, setup_queue
from twi_overlay import keys


async def test_complete_and_cancel_send_the_right_patch(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    reward = fake.add_reward("Join")
    h = await setup_queue(app_client, fake, reward)
    done, refunded = await redeem(app_client, fake, reward, 2)
    queue = await entries(app_client)
    await app_client.post(
        "/api/commands", headers=h, json={"type": "queue.complete", "payload": {"entry_id": queue[0]["id"]}}
    )
    await app_client.post(
        "/api/commands", headers=h, json={"type": "queue.cancel", "payload": {"entry_id": queue[1]["id"]}}
    )
    await app_client.app[keys.HELIX].drain()
    assert {(p["ids"][0], p["status"]) for p in fake.patches} == {(done, "FULFILLED"), (refunded, "CANCELED")}
    assert fake.redemptions[done]["status"] == "FULFILLED" and fake.redemptions[refunded]["status"] == "CANCELED"
    assert await history(app_client) == {done: "fulfilled", refunded: "refunded"}


async def test_403_marks_the_reward_unmanaged_and_never_retries(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    h = await setup_queue(app_client, fake, title="Made in the dashboard", client_id="someone-elses-client-id-000000")
    foreign = h.pop("X-Created-Reward")
    ids = await redeem(app_client, fake, foreign, 3)
    queue = await entries(app_client)
    await app_client.post(
        "/api/commands", headers=h, json={"type": "queue.cancel", "payload": {"entry_id": queue[0]["id"]}}
    )
    await app_client.app[keys.HELIX].drain()
    assert len(fake.patches) == 1
    rewards = (await (await app_client.get("/api/rewards")).json())["data"]
    assert next(r for r in rewards if r["id"] == foreign)["managed"] is False
    assert (await history(app_client))[ids[0]] == "failed: reward not created by this app"
    await app_client.post("/api/commands", headers=h, json={"type": "queue.clear", "payload": {"mode": "cancel"}})
    await app_client.app[keys.HELIX].drain()
    assert len(fake.patches) == 1  # no further calls for that reward, ever
    assert all(v is None or v.startswith("failed") for v in (await history(app_client)).values())


async def test_429_and_5xx_are_retried_until_they_succeed(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    reward = fake.add_reward("Join")
    h = await setup_queue(app_client, fake, reward)
    [rid] = await redeem(app_client, fake, reward)
    reset = int(time.time()) + 2  # at least a second away: the checks below run before it
    fake.patch_script = [(429, {"Ratelimit-Reset": str(reset), "Ratelimit-Remaining": "0"}), (503, {}), (500, {})]
    queue = await entries(app_client)
    await app_client.post(
        "/api/commands", headers=h, json={"type": "queue.complete", "payload": {"entry_id": queue[0]["id"]}}
    )
    worker = app_client.app[keys.HELIX]
    await worker.drain()  # the 429: nothing else is due until Ratelimit-Reset
    assert len(fake.patches) == 1
    nxt = await app_client.app[keys.DB].read(
        lambda tx: tx.value("SELECT next_attempt_at FROM helix_jobs WHERE redemption_id = ?", (rid,))
    )
    assert nxt >= reset
    while fake.redemptions[rid]["status"] == "UNFULFILLED":
        assert time.time() < reset + 5
        await worker.run_once()
    assert len(fake.patches) == 4 and (await history(app_client))[rid] == "fulfilled"
    attempts = await app_client.app[keys.DB].read(
        lambda tx: tx.value("SELECT attempts FROM helix_jobs WHERE redemption_id = ?", (rid,))
    )
    assert attempts == 3  # two 5xx and the success: waiting out a 429 is not an attempt


async def test_404_already_updated_counts_as_done(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    reward = fake.add_reward("Join")
    h = await setup_queue(app_client, fake, reward)
    [rid] = await redeem(app_client, fake, reward)
    fake.redemptions[rid]["status"] = "FULFILLED"  # the streamer fulfilled it on Twitch meanwhile
    queue = await entries(app_client)
    await app_client.post(
        "/api/commands", headers=h, json={"type": "queue.complete", "payload": {"entry_id": queue[0]["id"]}}
    )
    await app_client.app[keys.HELIX].drain()
    assert len(fake.patches) == 1 and (await history(app_client))[rid] == "fulfilled"


async def test_rejected_redemption_is_refunded(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    reward = fake.add_reward("Join")
    h = await setup_queue(app_client, fake, reward)
    await update_settings(app_client, h, queue={"open": False})
    [rid] = await redeem(app_client, fake, reward)
    await app_client.app[keys.HELIX].drain()
    assert fake.redemptions[rid]["status"] == "CANCELED"


async def test_webhook_is_acknowledged_fast_while_helix_is_slow(app_client: Any, twitch: Any) -> None:
    import asyncio

    fake, _ = twitch
    reward = fake.add_reward("Join")
    h = await setup_queue(app_client, fake, reward)
    await redeem(app_client, fake, reward)
    fake.patch_delay = 3.0
    queue = await entries(app_client)
    await app_client.post(
        "/api/commands", headers=h, json={"type": "queue.complete", "payload": {"entry_id": queue[0]["id"]}}
    )
    slow = asyncio.ensure_future(app_client.app[keys.HELIX].run_once())
    await asyncio.sleep(0.2)  # the PATCH is now waiting on the slow Twitch
    worst = 0.0
    for i in range(5):
        headers, raw = delivery(redemption_body(broadcaster_id=USER, reward_id=reward, user_id=f"f{i}"))
        started = time.perf_counter()
        r = await app_client.post("/eventsub/webhook", data=raw, headers=headers)
        worst = max(worst, time.perf_counter() - started)
        assert r.status == 204
    assert worst < 0.1, f"ACK took {worst * 1000:.0f} ms while Helix was slow"
    assert not slow.done()
    await slow


async def test_managed_queue_rewards_are_paused_while_closed_or_full(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    h, reward = await app_owned_queue_reward(app_client)
    worker = app_client.app[keys.HELIX]
    # The sign-in's reward sync first: a listing read before our pause and stored after it would undo it.
    await app_client.app[keys.TASKS].join()

    async def settings(**queue: Any) -> None:
        await update_settings(app_client, h, queue=queue)
        await worker.run_once()

    await settings(open=False)
    assert fake.rewards[reward]["is_paused"] is True
    await settings(open=True)
    assert fake.rewards[reward]["is_paused"] is False
    await settings(max_length=1)
    await redeem(app_client, fake, reward)  # the queue is now full
    await worker.run_once()
    assert fake.rewards[reward]["is_paused"] is True
    entry = (await entries(app_client))[0]
    await app_client.post(
        "/api/commands", headers=h, json={"type": "queue.complete", "payload": {"entry_id": entry["id"]}}
    )
    await worker.run_once()
    assert fake.rewards[reward]["is_paused"] is False
    rewards = (await (await app_client.get("/api/rewards")).json())["data"]
    assert [r["is_paused"] for r in rewards if r["id"] == reward] == [False]


async def _job(client: Any, rid: str) -> dict[str, Any]:
    return await client.app[keys.DB].read(
        lambda tx: dict(tx.one("SELECT * FROM helix_jobs WHERE redemption_id = ?", (rid,)))
    )


async def _finish_all(client: Any, h: dict[str, str], command: str = "queue.complete") -> None:
    for entry in await entries(client):
        r = await client.post("/api/commands", headers=h, json={"type": command, "payload": {"entry_id": entry["id"]}})
        assert r.status == 200


async def test_each_job_has_its_own_schedule_and_a_transient_failure_is_never_final(
    app_client: Any, twitch: Any
) -> None:
    """An outage's old job and a fresh job in one request: the fresh one retries after the first
    delay, the old one after its own longer one, and neither is ever given up (5xx, network)."""
    fake, _ = twitch
    reward = fake.add_reward("Join")
    h = await setup_queue(app_client, fake, reward)
    old, fresh = await redeem(app_client, fake, reward, 2)
    worker = app_client.app[keys.HELIX]
    fake.patch_script = [(503, {})]
    async with worker._lock:  # the running worker waits until both jobs are written
        await _finish_all(app_client, h)
        await app_client.app[keys.DB].write(
            lambda tx: tx.execute("UPDATE helix_jobs SET attempts = 30 WHERE redemption_id = ?", (old,))
        )
        before = time.time()
    await worker.run_once()  # this pass, or the running worker's: one request either way
    assert [sorted(p["ids"]) for p in fake.patches] == [sorted([old, fresh])]  # one request for both
    old_job, fresh_job = await _job(app_client, old), await _job(app_client, fresh)
    assert old_job["state"] == fresh_job["state"] == "pending"
    settings = app_client.app[keys.SETTINGS]
    assert fresh_job["next_attempt_at"] - before <= settings.helix_backoff_secs + 1
    assert old_job["next_attempt_at"] - before >= settings.helix_backoff_max_secs - 1  # capped, not abandoned
    assert old_job["attempts"] == 31 and fresh_job["attempts"] == 1
    assert (await history(app_client)) == {old: "pending", fresh: "pending"}


async def test_a_200_is_read_per_redemption_and_a_404_is_looked_up(app_client: Any, twitch: Any) -> None:
    """Twitch updates only UNFULFILLED redemptions: the ids missing from a 200 (or all, on a 404) are
    looked up, so the entry ends as Twitch has it, never as what we asked for."""
    fake, _ = twitch
    reward = fake.add_reward("Join")
    h = await setup_queue(app_client, fake, reward)
    ok, by_hand, sent_before_a_crash, gone = await redeem(app_client, fake, reward, 4)
    fake.redemptions[by_hand]["status"] = "CANCELED"  # the streamer refunded it on the dashboard
    fake.redemptions[sent_before_a_crash]["status"] = "FULFILLED"  # our earlier PATCH, never recorded
    del fake.redemptions[gone]
    await _finish_all(app_client, h)
    await app_client.app[keys.HELIX].drain()
    assert await history(app_client) == {
        ok: "fulfilled",
        by_hand: "refunded",
        sent_before_a_crash: "fulfilled",
        gone: "failed: not found on Twitch",
    }
    results = {rid: (await _job(app_client, rid))["result"] for rid in (ok, by_hand, gone)}
    assert results == {
        ok: "200 FULFILLED",
        by_hand: "already CANCELED on Twitch",
        gone: "404: not found on Twitch",
    }


async def test_a_failed_update_is_listed_and_can_be_retried(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    reward = fake.add_reward("Join")
    h = await setup_queue(app_client, fake, reward)
    rid, other = await redeem(app_client, fake, reward, 2)
    fake.patch_script = [(400, {})]
    worker = app_client.app[keys.HELIX]
    async with worker._lock:  # both in one request
        await _finish_all(app_client, h, "queue.cancel")
    await worker.drain()
    failed = (await (await app_client.get("/api/twitch-updates/failed")).json())["data"]
    assert {f["redemption_id"] for f in failed} == {rid, other}
    assert all(f["action"] == "CANCELED" and f["result"].startswith("400") and f["user_name"] for f in failed)

    async def retry(redemption_id: str) -> Any:
        return await app_client.post(
            "/api/commands", headers=h, json={"type": "redemption.retry", "payload": {"redemption_id": redemption_id}}
        )

    async with worker._lock:  # the running worker waits: the entry is seen pending first
        r = await retry(rid)
        assert r.status == 200 and (await r.json())["data"]["state"] == "pending"
        assert (await history(app_client))[rid] == "pending"
    await worker.drain()
    assert fake.redemptions[rid]["status"] == "CANCELED" and (await history(app_client))[rid] == "refunded"
    assert (await retry(rid)).status == 409  # done: nothing to retry
    assert (await retry("no-such-redemption")).status == 404
    assert fake.redemptions[other]["status"] == "UNFULFILLED"  # only what was asked for
    failed = (await (await app_client.get("/api/twitch-updates/failed")).json())["data"]
    assert [f["redemption_id"] for f in failed] == [other]


async def test_an_answer_that_is_not_json_is_an_outage_not_a_crash(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    reward = fake.add_reward("Join")
    h = await setup_queue(app_client, fake, reward)
    [rid] = await redeem(app_client, fake, reward)
    fake.patch_script = [(200, {}, "<html>502 Bad Gateway</html>")]
    await _finish_all(app_client, h)
    await app_client.app[keys.HELIX].run_once()
    job = await _job(app_client, rid)
    assert job["state"] == "pending" and job["attempts"] == 1 and "unavailable" in job["result"]
    await app_client.app[keys.DB].write(
        lambda tx: tx.execute("UPDATE helix_jobs SET next_attempt_at = 0 WHERE redemption_id = ?", (rid,))
    )
    await app_client.app[keys.HELIX].drain()
    assert fake.redemptions[rid]["status"] == "FULFILLED" and (await history(app_client))[rid] == "fulfilled"


async def test_a_reward_deleted_on_twitch_is_marked_removed(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    h, reward = await app_owned_queue_reward(app_client)
    [rid] = await redeem(app_client, fake, reward)
    fake.reward_patch_script = []
    del fake.rewards[reward]
    await _finish_all(app_client, h)
    await app_client.app[keys.HELIX].drain()
    assert (await history(app_client))[rid] == "failed: not found on Twitch"
    rewards = (await (await app_client.get("/api/rewards")).json())["data"]
    assert reward not in {r["id"] for r in rewards}  # removed rewards are not listed
    stored = await app_client.app[keys.DB].read(
        lambda tx: tx.value("SELECT removed FROM rewards WHERE id = ?", (reward,))
    )
    assert stored == 1


async def test_pause_sync_backs_off_and_a_deleted_reward_stops_it(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    from twi_overlay.twitch.helix_worker import Backoff

    h, reward = await app_owned_queue_reward(app_client)
    await app_client.app[keys.TASKS].join()  # the sign-in's reward sync, which would store what it finds
    worker = app_client.app[keys.HELIX]
    worker.backoff = Backoff(60.0, 300.0)  # the test app's 10 ms first delay could pass between two passes
    fake.reward_patch_script = [503, 503, 503]
    await update_settings(app_client, h, queue={"open": False})
    for _ in range(5):
        await worker.run_once()
    pauses = [c for c in fake.calls if c[0] == "update_reward"]
    assert len(pauses) == 1  # a failure waits out its backoff instead of re-sending every pass
    worker._pause_failures.clear()  # the backoff has passed
    fake.reward_patch_script = []
    del fake.rewards[reward]  # deleted on Twitch: the next update answers 404
    await worker.run_once()
    await worker.run_once()
    assert len([c for c in fake.calls if c[0] == "update_reward"]) == 2  # removed: never sent again
    stored = await app_client.app[keys.DB].read(
        lambda tx: tx.value("SELECT removed FROM rewards WHERE id = ?", (reward,))
    )
    assert stored == 1
