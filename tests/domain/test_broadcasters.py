"""stream.online and stream.offline: the live flag, told to every audience."""

from __future__ import annotations

from tests.domain.commands import ok
from tests.helpers import BROADCASTER
from twi_overlay import repo
from twi_overlay.store.database import Database


async def test_live_flag(d: Database) -> None:
    r = await ok(d, "stream.online", {"started_at": "t"}, source="twitch")
    assert r["events"] == [{"type": "stream.status", "data": {"live": True}}]
    assert (await d.read(repo.broadcasters.get, BROADCASTER)).live is True  # type: ignore[union-attr]
    await ok(d, "stream.offline", {}, source="twitch")
    assert (await d.read(repo.broadcasters.get, BROADCASTER)).live is False  # type: ignore[union-attr]
    status = next(e for e in d.published if e.type == "stream.status")  # type: ignore[attr-defined]
    assert status.overlay == {"live": True}
