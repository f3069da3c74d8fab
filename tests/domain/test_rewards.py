"""reward.sync from Twitch, and no status update owed for a reward Twitch said is not ours."""

from __future__ import annotations

from tests.domain.commands import ok
from tests.helpers import BROADCASTER
from twi_overlay import repo
from twi_overlay.domain.context import Ctx
from twi_overlay.domain.rewards import CANCELED, tell_twitch
from twi_overlay.store.database import Database
from twi_overlay.store.tx import Tx


async def test_reward_sync_adds_changes_and_removes(d: Database) -> None:
    r = await ok(d, "reward.sync", {"id": "w", "title": "Hydrate", "cost": 300}, source="twitch")
    assert r["data"]["reward"] == {
        "id": "w",
        "title": "Hydrate",
        "cost": 300,
        "is_enabled": True,
        "is_paused": False,
        "managed": None,
        "removed": False,
    }
    assert r["events"][0]["type"] == "reward.updated"
    await ok(d, "reward.sync", {"id": "w", "title": "Hydrate", "cost": 300, "removed": True}, source="twitch")
    assert await d.read(repo.rewards.listed, BROADCASTER) == []


async def test_status_updates_are_owed_only_for_redemptions_of_rewards_that_may_be_ours(d: Database) -> None:
    def tell(tx: Tx, reward_id: str | None, redemption_id: str | None) -> str | None:
        return tell_twitch(Ctx(tx, BROADCASTER, "twitch"), None, reward_id, redemption_id, CANCELED)

    assert await d.write(tell, None, None) is None  # an admin's walk-in
    assert await d.write(tell, "unknown-reward", "red-1") == "pending"  # not known yet: try, Twitch decides
    await d.write(lambda tx: repo.rewards.upsert(tx, BROADCASTER, "theirs", title="Dashboard"))
    await d.write(repo.rewards.set_managed, BROADCASTER, "theirs", False)
    assert await d.write(tell, "theirs", "red-2") is None
    assert [j.redemption_id for j in await d.read(repo.helix_jobs.pending)] == ["red-1"]
