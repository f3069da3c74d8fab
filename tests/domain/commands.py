"""Helpers for the command tests: run a command the way the runner's callers do, over a real SQLite file."""

from __future__ import annotations

from typing import Any

from tests.helpers import BROADCASTER
from twi_overlay import repo
from twi_overlay.domain.outcomes import Handled, Refused
from twi_overlay.domain.runner import execute
from twi_overlay.store.database import Database


async def run(
    db: Database, type_: str, payload: Any, source: str = "admin", key: str | None = None
) -> dict[str, Any] | Refused:
    """The JSON answer of a handled command, or the refusal."""
    outcome = await db.write(lambda tx: execute(tx, BROADCASTER, type_, payload, source, key))
    return outcome.answer() if isinstance(outcome, Handled) else outcome


async def ok(db: Database, type_: str, payload: Any, **kw: Any) -> dict[str, Any]:
    result = await run(db, type_, payload, **kw)
    assert not isinstance(result, Refused), result.reason if isinstance(result, Refused) else ""
    return result


async def refused(db: Database, type_: str, payload: Any) -> Refused:
    result = await run(db, type_, payload)
    assert isinstance(result, Refused), result
    return result


async def queue(db: Database) -> list[tuple[str, int | None, str]]:
    entries = await db.read(repo.queue.active, BROADCASTER)
    return [(e.user_name, e.position, e.status) for e in entries]


async def settings(db: Database, **sections: Any) -> None:
    stored = await db.read(repo.settings.get, BROADCASTER)
    assert stored is not None
    await ok(db, "settings.update", {"version": stored.version, "settings": sections})


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
