"""The runner: idempotency keys, unknown and malformed commands, the command log."""

from __future__ import annotations

from tests.domain.commands import ok, queue, refused, run
from tests.helpers import BROADCASTER
from twi_overlay import repo
from twi_overlay.domain.outcomes import Refusal, Refused
from twi_overlay.store.database import Database


async def test_admin_idempotency_key_returns_the_first_result(d: Database) -> None:
    first = await ok(d, "queue.enqueue", {"user_name": "a"}, key="k-1")
    again = await ok(d, "queue.enqueue", {"user_name": "a"}, key="k-1")
    assert again == {**first, "replayed": True}
    assert await queue(d) == [("a", 1, "waiting")]
    err1 = await run(d, "queue.cancel", {"entry_id": 999}, key="k-2")
    err2 = await run(d, "queue.cancel", {"entry_id": 999}, key="k-2")
    assert isinstance(err1, Refused) and isinstance(err2, Refused)
    assert (
        (err1.kind, err1.code, err1.message)
        == (err2.kind, err2.code, err2.message)
        == (
            Refusal.NOT_FOUND,
            "unknown_entry",
            "no entry 999 in the queue",
        )
    )


async def test_unknown_and_malformed_commands(d: Database) -> None:
    assert (await refused(d, "queue.explode", {})).code == "unknown_command"
    assert (await refused(d, "redemption.add", {})).code == "unknown_command"  # not an admin command
    assert (await refused(d, "queue.enqueue", [])).kind is Refusal.MALFORMED
    assert (await refused(d, "queue.enqueue", {"user_name": ""})).kind is Refusal.INVALID
    log = await d.read(repo.commands.recent, BROADCASTER, 10)
    assert [r.result for r in log] == ["error"] * 4
