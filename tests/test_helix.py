"""Redemption status updates through the durable Helix worker, against the fake Twitch."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import update_settings
from tests.helpers import delivery, redemption_body
from tests.test_twitch import sign_in
from twi_overlay import keys

USER = "5550001"


async def after_sign_in() -> None:
    """Let the background work a sign-in starts (subscriptions, reward sync, catch-up) finish."""
    import asyncio

    from twi_overlay import oauth

    await asyncio.gather(*oauth._RECONCILES)


async def setup_queue(client: Any, fake: Any, reward_id: str | None = None, **reward: str) -> dict[str, str]:
    """Sign in, then bind a reward to the queue: `reward_id`, or one created now in the fake with
    `**reward` (after the sign-in's reward sync, so whether it is ours is not known yet)."""
    session = await sign_in(client)
    await after_sign_in()
    created = reward_id is None
    if reward_id is None:
        reward_id = fake.add_reward(**reward)
    h = {"X-CSRF-Token": session["csrf_token"]}
    await update_settings(client, h, rewards={reward_id: "queue"}, queue={"per_user_limit": 50})
    if created:
        h["X-Created-Reward"] = reward_id  # popped by the caller before the headers are used
    return h


async def redeem(client: Any, fake: Any, reward_id: str, n: int = 1) -> list[str]:
    ids = []
    for i in range(n):
        rid = fake.add_redemption(reward_id)
        headers, raw = delivery(
            redemption_body(
                broadcaster_id=USER,
                reward_id=reward_id,
                redemption_id=rid,
                user_id=f"v{i}-{rid[:4]}",
                user_name=f"viewer{i}",
            )
        )
        assert (await client.post("/eventsub/webhook", data=raw, headers=headers)).status == 204
        ids.append(rid)
    await client.app[keys.PROCESSOR].drain()
    return ids


async def entries(client: Any) -> list[dict[str, Any]]:
    return (await (await client.get("/api/state")).json())["queue"]


async def history(client: Any) -> dict[str, str]:
    return {e["redemption_id"]: e["helix_status"] for e in (await (await client.get("/api/history")).json())["data"]}


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


async def test_redemptions_made_while_the_server_was_down_are_queued_in_order(app_client: Any, twitch: Any) -> None:
    from twi_overlay.catchup import catch_up

    fake, _ = twitch
    session = await sign_in(app_client)
    h = {"X-CSRF-Token": session["csrf_token"]}
    r = await app_client.post("/api/rewards", json={"title": "Join", "cost": 10, "bind": "queue"}, headers=h)
    reward = (await r.json())["id"]
    await update_settings(app_client, h, queue={"per_user_limit": 50})
    [seen] = await redeem(app_client, fake, reward)  # one arrived by webhook before the outage
    for i in range(7):  # made while we were down: more than one page of 5 in the fake
        fake.add_redemption(reward, user_name=f"offline{i}", user_input=f"#{i}")
    counts = await catch_up(app_client.app[keys.DB], app_client.app[keys.TWITCH], "5550001")
    assert counts["seen"] == 8 and counts["added"] <= 7
    names = [e["user_name"] for e in await entries(app_client)]
    # redemption order, no duplicate (the first may have been queued by the webhook or by the catch-up
    # that follows the sign-in: the same redemption id either way)
    assert names[1:] == [f"offline{i}" for i in range(7)] and len(names) == 8
    again = await catch_up(app_client.app[keys.DB], app_client.app[keys.TWITCH], "5550001")
    assert again["added"] == 0 and len(await entries(app_client)) == 8
    assert seen in {e["redemption_id"] for e in await entries(app_client)}


async def test_managed_queue_rewards_are_paused_while_closed_or_full(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    session = await sign_in(app_client)
    h = {"X-CSRF-Token": session["csrf_token"]}
    reward = (
        await (
            await app_client.post("/api/rewards", json={"title": "Join", "cost": 10, "bind": "queue"}, headers=h)
        ).json()
    )["id"]
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


async def test_rewards_are_listed_with_managed_from_only_manageable_rewards(app_client: Any, twitch: Any) -> None:
    from twi_overlay.catchup import sync_rewards

    fake, _ = twitch
    ours = fake.add_reward("Made by this app")
    theirs = fake.add_reward("Made in the dashboard", client_id="dashboard-client-id-00000000000")
    await sign_in(app_client)
    await sync_rewards(app_client.app[keys.DB], app_client.app[keys.TWITCH], USER)
    listed = {r["id"]: r["managed"] for r in (await (await app_client.get("/api/rewards")).json())["data"]}
    assert listed == {ours: True, theirs: False}
