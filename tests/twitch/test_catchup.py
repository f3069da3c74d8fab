"""After downtime: missed redemptions queued in order, rewards synced with `managed`."""

from __future__ import annotations

from typing import Any

from tests.conftest import update_settings
from tests.twitch.helpers import USER, entries, redeem, sign_in
from twi_overlay import keys


async def test_redemptions_made_while_the_server_was_down_are_queued_in_order(app_client: Any, twitch: Any) -> None:
    from twi_overlay.twitch.catchup import catch_up

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


async def test_rewards_are_listed_with_managed_from_only_manageable_rewards(app_client: Any, twitch: Any) -> None:
    from twi_overlay.twitch.catchup import sync_rewards

    fake, _ = twitch
    ours = fake.add_reward("Made by this app")
    theirs = fake.add_reward("Made in the dashboard", client_id="dashboard-client-id-00000000000")
    await sign_in(app_client)
    await sync_rewards(app_client.app[keys.DB], app_client.app[keys.TWITCH], USER)
    listed = {r["id"]: r["managed"] for r in (await (await app_client.get("/api/rewards")).json())["data"]}
    assert listed == {ours: True, theirs: False}
