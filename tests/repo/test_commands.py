"""The command log: rows with their answers, found again by idempotency key, newest first."""

from __future__ import annotations

from tests.conftest import add_broadcaster
from twi_overlay import repo
from twi_overlay.store.database import Database
from twi_overlay.store.tx import Tx


def _log(tx: Tx, key: str | None, result: str, response: object) -> int:
    return repo.commands.log(
        tx,
        "1337",
        type_="queue.pick",
        source="admin",
        payload={"count": 1},
        result=result,
        reason=None,
        idempotency_key=key,
        response=response,
        ts=1.0,
    )


async def test_log_recent_and_by_key(db: Database) -> None:
    await db.write(add_broadcaster)
    first = await db.write(_log, "k", "ok", {"result": "ok", "events": []})
    await db.write(_log, None, "error", None)
    stored = await db.read(repo.commands.by_idempotency_key, "1337", "k")
    assert stored is not None and (stored.id, stored.result, stored.response) == (
        first,
        "ok",
        {"result": "ok", "events": []},
    )
    assert await db.read(repo.commands.by_idempotency_key, "1337", "other") is None
    recent = await db.read(repo.commands.recent, "1337", 10)
    assert [r.result for r in recent] == ["error", "ok"] and recent[1].payload == {"count": 1}
