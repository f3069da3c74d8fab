"""repo.chatters: the roles of a viewer's last chat message, their last command, and the monthly prune
in chunks (through the maintenance job)."""

from __future__ import annotations

import time

from tests.conftest import add_broadcaster
from tests.helpers import BROADCASTER
from twi_overlay import repo
from twi_overlay.ops.jobs import CHATTER_RETENTION_SECS, maintenance
from twi_overlay.store.database import Database


async def test_the_last_message_says_the_roles_and_old_chatters_are_pruned(db: Database) -> None:
    await db.write(add_broadcaster)
    now = time.time()
    await db.write(repo.chatters.seen, BROADCASTER, "1", "ann", frozenset({"subscriber", "vip"}), now)
    await db.write(repo.chatters.commanded, BROADCASTER, "1", now)
    await db.write(repo.chatters.seen, BROADCASTER, "1", "ann_renamed", frozenset({"vip"}), now + 1)
    found = await db.read(repo.chatters.get, BROADCASTER, "1")
    assert found is not None and found.roles == {"vip"} and found.user_login == "ann_renamed"
    assert found.last_command_at == now  # a plain message does not reset the cooldown
    old = now - CHATTER_RETENTION_SECS - 60
    for i in range(2500):  # more than two chunks of stale ones
        await db.write(repo.chatters.seen, BROADCASTER, f"old{i}", f"old{i}", frozenset(), old)
    result = await maintenance(db)
    assert result["deleted"]["chatters"] == 2500
    assert await db.read(repo.chatters.get, BROADCASTER, "old1") is None
    assert await db.read(repo.chatters.get, BROADCASTER, "1") is not None
