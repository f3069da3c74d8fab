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
    reset = int(time.time()) + 1
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
    assert attempts == 4


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
