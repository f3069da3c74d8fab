"""stream/public.py: the public audience's snapshot holds what viewers may see and nothing else."""

from __future__ import annotations

from tests.conftest import add_broadcaster
from tests.helpers import BROADCASTER
from twi_overlay import repo
from twi_overlay.domain.settings import default_settings
from twi_overlay.store.database import Database
from twi_overlay.stream.public import public_snapshot


def setup(tx: object, enabled: bool, notes: bool) -> None:
    add_broadcaster(tx)  # type: ignore[arg-type]
    doc = default_settings()
    doc["public_page"] = {"enabled": enabled, "show_notes": notes}
    repo.settings.insert(tx, BROADCASTER, doc)  # type: ignore[arg-type]
    repo.queue.insert(
        tx,  # type: ignore[arg-type]
        BROADCASTER,
        user_name="Viewer_One",
        user_input="a note",
        source="twitch",
        now_iso="2026-12-01T00:00:00Z",
        user_id="u1",
        user_login="viewer_one",
        reward_id="reward-1",
        redemption_id="redemption-1",
    )


async def test_off_means_nothing_and_on_shows_only_public_fields(db: Database) -> None:
    await db.write(setup, False, False)
    assert await db.read(public_snapshot, BROADCASTER) is None
    doc = default_settings()
    doc["public_page"] = {"enabled": True, "show_notes": False}
    await db.write(repo.settings.update, BROADCASTER, 1, doc)
    shown = await db.read(public_snapshot, BROADCASTER)
    assert shown is not None and shown["entries"] == [{"position": 1, "name": "Viewer_One", "playing": False}]
    doc["public_page"]["show_notes"] = True
    await db.write(repo.settings.update, BROADCASTER, 2, doc)
    shown = await db.read(public_snapshot, BROADCASTER)
    assert shown is not None and shown["entries"][0]["note"] == "a note"
    assert set(shown) == {"channel", "open", "entries", "at"}
