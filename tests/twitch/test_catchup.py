"""After downtime: missed redemptions queued in order, rewards synced with `managed`."""

from __future__ import annotations

from typing import Any

from tests.conftest import update_settings
from tests.twitch.helpers import USER, app_owned_queue_reward, entries, redeem, sign_in
from twi_overlay import keys, repo


async def test_redemptions_made_while_the_server_was_down_are_queued_in_order(app_client: Any, twitch: Any) -> None:
    from twi_overlay.twitch.catchup import catch_up

    fake, _ = twitch
    h, reward = await app_owned_queue_reward(app_client)
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


async def test_rewards_are_listed_with_managed_from_only_manageable_rewards(app_client: Any, twitch: Any) -> None:
    from twi_overlay.twitch.catchup import sync_rewards

    fake, _ = twitch
    ours = fake.add_reward("Made by this app")
    theirs = fake.add_reward("Made in the dashboard", client_id="dashboard-client-id-00000000000")
    await sign_in(app_client)
    await sync_rewards(app_client.app[keys.DB], app_client.app[keys.TWITCH], USER)
    listed = {r["id"]: r["managed"] for r in (await (await app_client.get("/api/rewards")).json())["data"]}
    assert listed == {ours: True, theirs: False}
    del fake.rewards[theirs]  # deleted on Twitch while we were not listening
    await sync_rewards(app_client.app[keys.DB], app_client.app[keys.TWITCH], USER)
    listed = {r["id"]: r["managed"] for r in (await (await app_client.get("/api/rewards")).json())["data"]}
    assert listed == {ours: True}


async def _past_the_ttl(client: Any) -> None:
    """The TTL job as it runs 73 hours from now: the command log rows of today's redemptions are gone."""
    import time

    from twi_overlay.ops.jobs import maintenance

    await client.app[keys.TASKS].join()
    result = await maintenance(client.app[keys.DB], 72.0, now=time.time() + 73 * 3600)
    assert result["deleted"]["command_log"] > 0


async def test_a_waiting_viewer_is_never_refunded_when_the_catch_up_meets_their_redemption_after_the_ttl(
    app_client: Any, twitch: Any
) -> None:
    from twi_overlay.twitch.catchup import catch_up

    fake, _ = twitch
    h, reward = await app_owned_queue_reward(app_client)
    [waiting] = await redeem(app_client, fake, reward)  # per_user_limit 1: this viewer's entry is their one
    await _past_the_ttl(app_client)
    counts = await catch_up(app_client.app[keys.DB], app_client.app[keys.TWITCH], USER)  # still UNFULFILLED
    assert counts == {"seen": 1, "added": 0}
    await app_client.app[keys.HELIX].drain()
    assert fake.patches == [] and fake.redemptions[waiting]["status"] == "UNFULFILLED"  # no refund
    [entry] = await entries(app_client)
    assert entry["redemption_id"] == waiting and entry["status"] == "waiting" and entry["helix_status"] is None
    r = await app_client.post(
        "/api/commands", headers=h, json={"type": "queue.complete", "payload": {"entry_id": entry["id"]}}
    )
    assert r.status == 200
    await app_client.app[keys.HELIX].drain()
    assert fake.redemptions[waiting]["status"] == "FULFILLED"  # and "Done" still reaches Twitch


async def test_one_redemption_that_fails_does_not_stop_the_catch_up(app_client: Any, twitch: Any) -> None:
    from twi_overlay.twitch.catchup import catch_up

    fake, _ = twitch
    h, reward = await app_owned_queue_reward(app_client)
    await update_settings(app_client, h, queue={"per_user_limit": 50})
    [old] = await redeem(app_client, fake, reward)
    await _past_the_ttl(app_client)  # then, while we were down, two more
    missed = [fake.add_redemption(reward, user_name=f"missed{i}") for i in range(2)]
    counts = await catch_up(app_client.app[keys.DB], app_client.app[keys.TWITCH], USER)
    assert counts == {"seen": 3, "added": 2}
    assert [e["redemption_id"] for e in await entries(app_client)] == [old, *missed]
    assert fake.patches == []


async def test_a_catch_up_that_meets_an_outage_is_tried_again_until_it_worked(app_client: Any, twitch: Any) -> None:
    """Twitch down (or rate limiting) when the server starts: the redemptions made while it was down
    are still queued, on a later try, instead of waiting for the next restart."""
    from twi_overlay.twitch.catchup import RETRY_MIN_SECS, catch_up_until_done

    fake, _ = twitch
    h, reward = await app_owned_queue_reward(app_client)
    await app_client.app[keys.TASKS].join()
    missed = fake.add_redemption(reward, user_name="while_down")
    fake.down = True
    waits: list[float] = []

    async def sleep(secs: float) -> None:
        waits.append(secs)
        fake.down = len(waits) < 3  # Twitch is back after the second wait

    await catch_up_until_done(app_client.app[keys.DB], app_client.app[keys.TWITCH], sleep)
    assert waits == [RETRY_MIN_SECS, RETRY_MIN_SECS * 2, RETRY_MIN_SECS * 4]
    assert missed in {e["redemption_id"] for e in await entries(app_client)}


async def test_a_reward_listing_older_than_what_we_wrote_changes_none_of_it(app_client: Any, twitch: Any) -> None:
    """The sign-in's reward sync asks Twitch, then stores the answer: a reward created, or a pause
    sent, in between is newer than that answer and is kept (not marked removed, not unpaused)."""
    import time

    from twi_overlay.twitch.catchup import _sync

    fake, _ = twitch
    listed_at = time.time()  # the listing was asked for here...
    h, reward = await app_owned_queue_reward(app_client)  # ...this reward was created after it...
    db = app_client.app[keys.DB]
    await db.write(lambda tx: repo.rewards.set_paused(tx, USER, reward, True))  # ...and paused
    old = {k: v for k, v in fake.rewards[reward].items() if not k.startswith("_")} | {"is_paused": False}
    await db.write(_sync, USER, [], set(), listed_at)  # a listing from before the reward existed
    await db.write(_sync, USER, [old], {reward}, listed_at)  # and one from before the pause
    stored = await db.read(lambda tx: repo.rewards.get(tx, USER, reward))
    assert stored is not None and stored.removed is False and stored.is_paused is True
    await db.write(_sync, USER, [], set(), time.time())  # a listing from now: it is gone on Twitch
    stored = await db.read(lambda tx: repo.rewards.get(tx, USER, reward))
    assert stored is not None and stored.removed is True


async def test_a_catch_up_pass_whose_own_database_read_fails_runs_again(app_client: Any, twitch: Any) -> None:
    """SQLITE_BUSY (a deploy's migrate holding the file) on the read of who to catch up: the pass runs
    again after the backoff, for everyone, instead of the task ending with nothing done."""
    import sqlite3

    from twi_overlay.twitch.catchup import catch_up_until_done

    fake, _ = twitch
    h, reward = await app_owned_queue_reward(app_client)
    await app_client.app[keys.TASKS].join()
    missed = fake.add_redemption(reward, user_name="while_busy")
    db = app_client.app[keys.DB]

    class BusyOnce:
        """The real database, whose first read raises what SQLite raises when the file is locked."""

        def __init__(self) -> None:
            self.failed = False

        async def read(self, job: Any, *args: Any) -> Any:
            if not self.failed:
                self.failed = True
                raise sqlite3.OperationalError("database is locked")
            return await db.read(job, *args)

        async def write(self, job: Any, *args: Any) -> Any:
            return await db.write(job, *args)

    waits: list[float] = []

    async def sleep(secs: float) -> None:
        waits.append(secs)

    await catch_up_until_done(BusyOnce(), app_client.app[keys.TWITCH], sleep)  # type: ignore[arg-type]
    assert len(waits) == 1 and missed in {e["redemption_id"] for e in await entries(app_client)}
