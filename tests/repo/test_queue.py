"""Queue entries: dense positions as entries come and go, reordering, the history."""

from __future__ import annotations

from tests.conftest import add_broadcaster
from twi_overlay import repo
from twi_overlay.store.database import Database
from twi_overlay.store.tx import Tx


def _add(tx: Tx, name: str, **kw: str) -> int:
    return repo.queue.insert(tx, "1337", user_name=name, user_input="", source="admin", now_iso="t", **kw).id


async def test_positions_stay_dense_and_history_keeps_finished_entries(db: Database) -> None:
    await db.write(add_broadcaster)
    ids = [await db.write(_add, name) for name in "abcd"]
    assert [(e.user_name, e.position) for e in await db.read(repo.queue.active, "1337")] == [
        ("a", 1),
        ("b", 2),
        ("c", 3),
        ("d", 4),
    ]
    finished = await db.write(repo.queue.finish, "1337", ids[1], "completed", None, "t2")
    assert finished is not None and (finished.position, finished.status, finished.ended_at) == (None, "completed", "t2")
    assert await db.write(repo.queue.finish, "1337", ids[1], "completed", None, "t3") is None  # not queued now
    await db.write(repo.queue.set_positions, "1337", [ids[3], ids[0], ids[2]])
    assert [(e.user_name, e.position) for e in await db.read(repo.queue.active, "1337")] == [
        ("d", 1),
        ("a", 2),
        ("c", 3),
    ]
    assert await db.read(repo.queue.length, "1337") == 3
    assert [e.user_name for e in await db.read(repo.queue.history, "1337", 10)] == ["b"]


async def test_views_and_the_per_user_key(db: Database) -> None:
    await db.write(add_broadcaster)
    await db.write(lambda tx: _add(tx, "Ann", user_id="42", redemption_id="r-1", reward_id="w"))
    await db.write(_add, "Walk_In")
    entry = await db.read(repo.queue.by_redemption, "1337", "r-1")
    assert entry is not None and entry.active
    assert set(entry.overlay_view()) == {"id", "position", "status", "user_name", "user_input", "enqueued_at"}
    assert "ended_at" not in entry.admin_view() and entry.admin_view()["redemption_id"] == "r-1"
    assert await db.read(repo.queue.count_for_user, "1337", repo.queue.user_key("42", "whoever")) == 1
    assert await db.read(repo.queue.count_for_user, "1337", repo.queue.user_key(None, "walk_in")) == 1
    picked = await db.write(repo.queue.mark_picked, "1337", entry.id)
    assert picked.status == "picked" and [e.user_name for e in await db.read(repo.queue.waiting, "1337")] == ["Walk_In"]
