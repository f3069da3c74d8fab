"""The read model and the events: what the admin and the overlay each see."""

from __future__ import annotations

from tests.domain.commands import ok, redemption, settings
from tests.helpers import BROADCASTER
from twi_overlay.domain.state import snapshot
from twi_overlay.store.database import Database


async def test_events_and_snapshot_views(d: Database) -> None:
    await settings(d, rewards={"r-queue": "queue"})
    await ok(d, "redemption.add", redemption("red-1", "Ann"), source="twitch")
    published = d.published  # type: ignore[attr-defined]
    enq = next(e for e in published if e.type == "queue.enqueued")
    assert set(enq.data["entry"]) >= {"user_id", "user_login", "redemption_id", "reward_id"}
    assert set(enq.overlay["entry"]) == {"id", "position", "status", "user_name", "user_input", "enqueued_at"}
    assert any(e.type == "command.logged" and e.overlay is None for e in published)
    admin = await d.read(snapshot, BROADCASTER, "admin")
    overlay = await d.read(snapshot, BROADCASTER, "overlay")
    assert admin["queue"][0]["user_id"] == "id-Ann" and "user_id" not in overlay["queue"][0]
    assert "rewards" in admin["settings"] and "rewards" not in overlay["settings"]
    assert set(admin) == {"broadcaster", "queue", "counters", "settings"}
