"""Policy and every command over a real migrated SQLite file (SPEC §5)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import add_broadcaster
from tests.helpers import BROADCASTER
from twi_overlay import repo
from twi_overlay.db import Database
from twi_overlay.domain.commands import execute, snapshot
from twi_overlay.domain.errors import CommandError
from twi_overlay.domain.policy import Command, decide
from twi_overlay.domain.settings import default_settings


@pytest.fixture
async def d(db: Database) -> Database:
    await db.write(add_broadcaster)
    return db


async def run(db: Database, type_: str, payload: Any, source: str = "admin", key: str | None = None) -> Any:
    return await db.write(lambda tx: execute(tx, BROADCASTER, type_, payload, source, key))


async def ok(db: Database, type_: str, payload: Any, **kw: Any) -> dict[str, Any]:
    result = await run(db, type_, payload, **kw)
    assert not isinstance(result, CommandError), result.message if isinstance(result, CommandError) else ""
    return result


async def refused(db: Database, type_: str, payload: Any) -> CommandError:
    result = await run(db, type_, payload)
    assert isinstance(result, CommandError), result
    return result


async def queue(db: Database) -> list[tuple[str, int, str]]:
    entries = await db.read(repo.queue, BROADCASTER)
    return [(e["user_name"], e["position"], e["status"]) for e in entries]


async def settings(db: Database, **sections: Any) -> None:
    version = (await db.read(lambda tx: repo.settings(tx, BROADCASTER)))[0]
    await ok(db, "settings.update", {"version": version, "settings": sections})


def redemption(rid: str, user: str = "Viewer", reward: str = "r-queue", user_id: str | None = None) -> dict[str, Any]:
    return {
        "redemption_id": rid,
        "reward_id": reward,
        "reward_title": "Join",
        "reward_cost": 100,
        "user_id": user_id or f"id-{user}",
        "user_login": user.lower(),
        "user_name": user,
        "user_input": "hi",
    }


# -- policy ---------------------------------------------------------------------------------------
def test_policy_is_keyed_by_reward_id() -> None:
    doc = default_settings()
    doc["rewards"] = {"r-queue": "queue", "r-count": "counter:deaths", "r-off": "ignore"}
    assert decide(doc, redemption("1", reward="r-queue")).type == "queue.enqueue"  # type: ignore[union-attr]
    assert decide(doc, redemption("1", reward="r-count")) == Command("counter.increment", {"name": "deaths", "by": 1})
    assert decide(doc, redemption("1", reward="r-off")) is None
    assert decide(doc, {**redemption("1", reward="unbound"), "reward_title": "r-queue"}) is None


# -- queue ----------------------------------------------------------------------------------------
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
    log = await d.read(repo.recent_commands, BROADCASTER, 20)
    assert [r["result"] for r in log if r["type"] == "queue.enqueue"] == [
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
    assert (await refused(d, "queue.pick", {"count": 0})).status == 422
    assert (await refused(d, "queue.pick", {"count": "2"})).status == 400


async def test_complete_cancel_move_keep_dense_positions(d: Database) -> None:
    await settings(d, queue={"per_user_limit": 5})
    ids = [(await ok(d, "queue.enqueue", {"user_name": n}))["data"]["entry"]["id"] for n in "abcd"]
    await ok(d, "queue.complete", {"entry_id": ids[1]})
    assert await queue(d) == [("a", 1, "waiting"), ("c", 2, "waiting"), ("d", 3, "waiting")]
    r = await ok(d, "queue.move", {"entry_id": ids[3], "position": 1})
    assert [e["user_name"] for e in r["events"][0]["data"]["entries"]] == ["d", "a", "c"]
    await ok(d, "queue.move", {"entry_id": ids[3], "position": 3})
    assert await queue(d) == [("a", 1, "waiting"), ("c", 2, "waiting"), ("d", 3, "waiting")]
    await ok(d, "queue.cancel", {"entry_id": ids[0]})
    assert await queue(d) == [("c", 1, "waiting"), ("d", 2, "waiting")]
    history = await d.read(repo.history, BROADCASTER, 10)
    assert {(e["user_name"], e["ended_at"] is not None) for e in history} == {("a", True), ("b", True)}
    assert (await refused(d, "queue.complete", {"entry_id": ids[0]})).status == 404  # already gone
    assert (await refused(d, "queue.move", {"entry_id": ids[2], "position": 3})).status == 422
    assert (await refused(d, "queue.cancel", {"entry_id": 99999})).code == "unknown_entry"


async def test_clear_cancel_and_complete(d: Database) -> None:
    await settings(d, queue={"per_user_limit": 5})
    for n in "abc":
        await ok(d, "queue.enqueue", {"user_name": n})
    r = await ok(d, "queue.clear", {"mode": "cancel"})
    assert [(e["user_name"], e["status"]) for e in r["data"]["entries"]] == [
        ("a", "canceled"),
        ("b", "canceled"),
        ("c", "canceled"),
    ]
    assert await queue(d) == []
    assert (await refused(d, "queue.clear", {"mode": "nuke"})).status == 400
    await ok(d, "queue.enqueue", {"user_name": "z"})
    r = await ok(d, "queue.clear", {"mode": "complete"})
    assert r["data"]["entries"][0]["status"] == "completed"


async def test_counters(d: Database) -> None:
    assert (await ok(d, "counter.increment", {"name": "deaths"}))["data"] == {"name": "deaths", "value": 1}
    assert (await ok(d, "counter.increment", {"name": "deaths", "by": 4}))["data"]["value"] == 5
    assert (await ok(d, "counter.increment", {"name": "deaths", "by": -2}))["data"]["value"] == 3
    assert (await ok(d, "counter.set", {"name": "wins", "value": 10}))["data"]["value"] == 10
    assert (await ok(d, "counter.reset", {"name": "deaths"}))["data"]["value"] == 0
    assert await d.read(repo.counters, BROADCASTER) == {"deaths": 0, "wins": 10}
    assert (await refused(d, "counter.set", {"name": "bad name!", "value": 1})).status == 422
    assert (await refused(d, "counter.set", {"name": "x"})).status == 400
    assert (await refused(d, "counter.increment", {"name": "x", "by": 10**9})).status == 422


async def test_settings_merge_validation_and_version(d: Database) -> None:
    r = await ok(
        d,
        "settings.update",
        {"version": 1, "settings": {"queue": {"open": False}, "rewards": {"r1": "counter:deaths"}}},
    )
    s = r["data"]["settings"]
    assert s["version"] == 2 and s["queue"] == {"open": False, "max_length": 50, "per_user_limit": 1}
    assert s["rewards"] == {"r1": "counter:deaths"} and s["overlay"]["theme"] == "dark"
    # overlay sees no reward bindings
    assert r["events"][0]["data"]["settings"]["rewards"] == {"r1": "counter:deaths"}
    conflict = await refused(d, "settings.update", {"version": 1, "settings": {}})
    assert (conflict.status, conflict.code) == (409, "version_conflict")
    for patch, field in [
        ({"queue": {"max_length": 0}}, "settings.queue.max_length"),
        ({"queue": {"max_length": 1001}}, "settings.queue.max_length"),
        ({"queue": {"per_user_limit": 101}}, "settings.queue.per_user_limit"),
        ({"queue": {"open": "yes"}}, "settings.queue.open"),
        ({"overlay": {"max_visible": 51}}, "settings.overlay.max_visible"),
        ({"overlay": {"theme": "pink"}}, "settings.overlay.theme"),
        ({"overlay": {"colour": 1}}, "settings.overlay.colour"),
        ({"rewards": {"r2": "queue-ish"}}, "settings.rewards.r2"),
        ({"nonsense": {}}, "settings.nonsense"),
    ]:
        err = await refused(d, "settings.update", {"version": 2, "settings": patch})
        assert err.status == 422 and err.message.startswith(field + ":"), (patch, err.message)
    r = await ok(d, "settings.update", {"version": 2, "settings": {"rewards": {"r1": None, "r3": "queue"}}})
    assert r["data"]["settings"]["rewards"] == {"r3": "queue"}
    assert (await refused(d, "settings.update", {"settings": {}})).status == 400


async def test_admin_idempotency_key_returns_the_first_result(d: Database) -> None:
    first = await ok(d, "queue.enqueue", {"user_name": "a"}, key="k-1")
    again = await ok(d, "queue.enqueue", {"user_name": "a"}, key="k-1")
    assert again == {**first, "replayed": True}
    assert await queue(d) == [("a", 1, "waiting")]
    err1 = await run(d, "queue.cancel", {"entry_id": 999}, key="k-2")
    err2 = await run(d, "queue.cancel", {"entry_id": 999}, key="k-2")
    assert isinstance(err1, CommandError) and isinstance(err2, CommandError)
    assert (err1.status, err1.code, err1.message) == (err2.status, err2.code, err2.message)


async def test_redemptions_are_idempotent_by_redemption_id(d: Database) -> None:
    await settings(d, rewards={"r-queue": "queue"})
    key = "redemption:abc"
    await ok(d, "redemption.add", redemption("abc", "Ann"), source="twitch", key=key)
    again = await ok(d, "redemption.add", redemption("abc", "Ann"), source="twitch", key=key)
    assert again["replayed"] is True
    assert await queue(d) == [("Ann", 1, "waiting")]
    unbound = await ok(d, "redemption.add", redemption("x1", "Bob", reward="r-unbound"), source="twitch")
    assert unbound["reason"] == "ignored: reward not bound"
    assert {r["id"] for r in await d.read(repo.rewards, BROADCASTER)} == {"r-queue", "r-unbound"}


async def test_rejected_redemption_of_a_managed_reward_records_a_refund(d: Database) -> None:
    await settings(d, rewards={"r-queue": "queue"}, queue={"open": False})
    r = await ok(d, "redemption.add", redemption("red-1", "Ann"), source="twitch")
    assert (r["result"], r["reason"], r["data"]) == ("rejected", "queue_closed", {"refund": "pending"})
    jobs = await d.read(repo.pending_helix_jobs)
    assert [(j["redemption_id"], j["action"], j["entry_id"]) for j in jobs] == [("red-1", "CANCELED", None)]
    # A reward known not to be ours (Helix said 403) gets no refund intent.
    await d.write(lambda tx: tx.execute("UPDATE rewards SET managed = 0 WHERE id = 'r-queue'"))
    r = await ok(d, "redemption.add", redemption("red-2", "Bob"), source="twitch")
    assert "data" not in r and len(await d.read(repo.pending_helix_jobs)) == 1


async def test_complete_and_cancel_of_twitch_entries_record_helix_intents(d: Database) -> None:
    await settings(d, rewards={"r-queue": "queue"}, queue={"per_user_limit": 5})
    for i in range(3):
        await ok(d, "redemption.add", redemption(f"red-{i}", f"U{i}"), source="twitch")
    entries = await d.read(repo.queue, BROADCASTER)
    done = await ok(d, "queue.complete", {"entry_id": entries[0]["id"]})
    assert done["data"]["entry"]["helix_status"] == "pending"
    await ok(d, "queue.cancel", {"entry_id": entries[1]["id"]})
    await ok(d, "queue.clear", {"mode": "cancel"})
    jobs = {j["redemption_id"]: j["action"] for j in await d.read(repo.pending_helix_jobs)}
    assert jobs == {"red-0": "FULFILLED", "red-1": "CANCELED", "red-2": "CANCELED"}
    admin = await ok(d, "queue.enqueue", {"user_name": "walk-in"})
    assert admin["data"]["entry"]["helix_status"] is None  # nothing to tell Twitch


async def test_redemption_update_from_twitch_removes_the_entry(d: Database) -> None:
    await settings(d, rewards={"r-queue": "queue"}, queue={"per_user_limit": 5})
    await ok(d, "redemption.add", redemption("red-1", "Ann"), source="twitch")
    await ok(d, "redemption.add", redemption("red-2", "Bob"), source="twitch")
    r = await ok(d, "redemption.update", {"redemption_id": "red-1", "status": "fulfilled"}, source="twitch")
    assert r["events"][0]["type"] == "queue.completed"
    assert r["data"]["entry"]["helix_status"] == "fulfilled"
    assert await queue(d) == [("Bob", 1, "waiting")]
    r = await ok(d, "redemption.update", {"redemption_id": "nope", "status": "canceled"}, source="twitch")
    assert r["reason"].startswith("ignored")
    assert await d.read(repo.pending_helix_jobs) == []  # Twitch already knows


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


async def test_unknown_and_malformed_commands(d: Database) -> None:
    assert (await refused(d, "queue.explode", {})).code == "unknown_command"
    assert (await refused(d, "redemption.add", {})).code == "unknown_command"  # not an admin command
    assert (await refused(d, "queue.enqueue", [])).status == 400
    assert (await refused(d, "queue.enqueue", {"user_name": ""})).status == 422
    log = await d.read(repo.recent_commands, BROADCASTER, 10)
    assert [r["result"] for r in log] == ["error"] * 4
