"""queue.* commands: the rules, dense positions, picks, clears, and what Twitch is told."""

from __future__ import annotations

from tests.domain.commands import ok, queue, redemption, refused, run, settings
from tests.helpers import BROADCASTER
from twi_overlay import repo
from twi_overlay.domain.outcomes import Refusal
from twi_overlay.store.database import Database


async def test_enqueue_limits_closed_full_per_user(d: Database) -> None:
    await settings(d, queue={"max_length": 2, "per_user_limit": 1})
    assert (await ok(d, "queue.enqueue", {"user_name": "a"}))["result"] == "ok"
    assert await run(d, "queue.enqueue", {"user_name": "A"}) == {
        "result": "rejected",
        "reason": "per_user_limit",
        "events": [],
    }
    await ok(d, "queue.enqueue", {"user_name": "b", "note": "second"})
    assert (await ok(d, "queue.enqueue", {"user_name": "c"}))["reason"] == "queue_full"
    await settings(d, queue={"open": False, "max_length": 10})
    assert (await ok(d, "queue.enqueue", {"user_name": "c"}))["reason"] == "queue_closed"
    assert await queue(d) == [("a", 1, "waiting"), ("b", 2, "waiting")]
    log = await d.read(repo.commands.recent, BROADCASTER, 20)
    assert [r.result for r in log if r.type == "queue.enqueue"] == [
        "rejected",
        "rejected",
        "ok",
        "rejected",
        "ok",
    ]


async def test_pick_next_and_random(d: Database) -> None:
    await settings(d, queue={"per_user_limit": 5})
    for name in "abcde":
        await ok(d, "queue.enqueue", {"user_name": name})
    r = await ok(d, "queue.pick", {"count": 2})
    assert [e["user_name"] for e in r["data"]["entries"]] == ["a", "b"]
    assert r["events"][0]["type"] == "queue.picked"
    r = await ok(d, "queue.pick", {"count": 2, "random": True})
    picked = {e["user_name"] for e in r["data"]["entries"]}
    assert len(picked) == 2 and picked <= {"c", "d", "e"}
    assert sum(1 for _, _, s in await queue(d) if s == "picked") == 4
    await ok(d, "queue.pick", {"count": 5})
    assert (await ok(d, "queue.pick", {}))["reason"] == "no_waiting_entries"
    assert (await refused(d, "queue.pick", {"count": 0})).kind is Refusal.INVALID
    assert (await refused(d, "queue.pick", {"count": "2"})).kind is Refusal.MALFORMED


async def test_complete_cancel_move_keep_dense_positions(d: Database) -> None:
    await settings(d, queue={"per_user_limit": 5})
    ids = [(await ok(d, "queue.enqueue", {"user_name": n}))["data"]["entry"]["id"] for n in "abcd"]
    await ok(d, "queue.complete", {"entry_id": ids[1]})
    assert await queue(d) == [("a", 1, "waiting"), ("c", 2, "waiting"), ("d", 3, "waiting")]
    r = await ok(d, "queue.move", {"entry_id": ids[3], "position": 1})
    moved = r["events"][0]["data"]  # a delta, not the whole queue
    assert moved["entry"]["position"] == 1 and moved["from_position"] == 3 and "entries" not in moved
    assert await queue(d) == [("d", 1, "waiting"), ("a", 2, "waiting"), ("c", 3, "waiting")]
    await ok(d, "queue.move", {"entry_id": ids[3], "position": 3})
    assert await queue(d) == [("a", 1, "waiting"), ("c", 2, "waiting"), ("d", 3, "waiting")]
    await ok(d, "queue.cancel", {"entry_id": ids[0]})
    assert await queue(d) == [("c", 1, "waiting"), ("d", 2, "waiting")]
    history = await d.read(repo.queue.history, BROADCASTER, 10)
    assert {(e.user_name, e.ended_at is not None) for e in history} == {("a", True), ("b", True)}
    assert (await refused(d, "queue.complete", {"entry_id": ids[0]})).kind is Refusal.NOT_FOUND  # already gone
    assert (await refused(d, "queue.move", {"entry_id": ids[2], "position": 3})).kind is Refusal.INVALID
    assert (await refused(d, "queue.cancel", {"entry_id": 99999})).code == "unknown_entry"


async def test_clear_cancel_and_complete(d: Database) -> None:
    await settings(d, queue={"per_user_limit": 5})
    for n in "abc":
        await ok(d, "queue.enqueue", {"user_name": n})
    r = await ok(d, "queue.clear", {"mode": "cancel"})
    cleared = r["events"][0]["data"]
    assert cleared["count"] == 3 and len(cleared["entry_ids"]) == 3 and "entries" not in cleared
    assert [(e["user_name"], e["status"]) for e in r["data"]["entries"]] == [
        ("a", "canceled"),
        ("b", "canceled"),
        ("c", "canceled"),
    ]
    assert await queue(d) == []
    assert (await refused(d, "queue.clear", {"mode": "nuke"})).kind is Refusal.MALFORMED
    await ok(d, "queue.enqueue", {"user_name": "z"})
    r = await ok(d, "queue.clear", {"mode": "complete"})
    assert r["data"]["entries"][0]["status"] == "completed"


async def test_complete_and_cancel_of_twitch_entries_record_helix_intents(d: Database) -> None:
    await settings(d, rewards={"r-queue": "queue"}, queue={"per_user_limit": 5})
    for i in range(3):
        await ok(d, "redemption.add", redemption(f"red-{i}", f"U{i}"), source="twitch")
    entries = await d.read(repo.queue.active, BROADCASTER)
    done = await ok(d, "queue.complete", {"entry_id": entries[0].id})
    assert done["data"]["entry"]["helix_status"] == "pending"
    await ok(d, "queue.cancel", {"entry_id": entries[1].id})
    await ok(d, "queue.clear", {"mode": "cancel"})
    jobs = {j.redemption_id: j.action for j in await d.read(repo.helix_jobs.pending)}
    assert jobs == {"red-0": "FULFILLED", "red-1": "CANCELED", "red-2": "CANCELED"}
    admin = await ok(d, "queue.enqueue", {"user_name": "walk-in"})
    assert admin["data"]["entry"]["helix_status"] is None  # nothing to tell Twitch
