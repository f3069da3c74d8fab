"""domain.roles: badges to roles, moderators from Twitch's list (never from a badge), and who may join
and who goes first."""

from __future__ import annotations

import time

from tests.helpers import BROADCASTER
from twi_overlay import repo
from twi_overlay.domain import roles
from twi_overlay.repo.moderators import Moderator
from twi_overlay.store.database import Database


def test_badges_become_roles() -> None:
    assert roles.from_badges(["founder", "sub-gifter", "lead_moderator"]) == {"subscriber", "moderator"}
    assert roles.from_badges(["premium", "turbo"]) == frozenset()


async def test_moderators_come_from_the_list_and_the_rest_from_the_last_message(d: Database) -> None:
    await d.write(repo.moderators.add, BROADCASTER, Moderator("m1", "mod", "Mod"))
    await d.write(repo.chatters.seen, BROADCASTER, "v1", "viewer", frozenset({"vip", "moderator"}), time.time())
    assert await d.read(roles.of_viewer, BROADCASTER, "v1") == {"vip"}  # a badge is not the list
    assert await d.read(roles.of_viewer, BROADCASTER, "m1") == {"moderator"}
    assert await d.read(roles.of_viewer, BROADCASTER, BROADCASTER, ["subscriber"]) == {"broadcaster", "subscriber"}
    assert await d.read(roles.of_viewer, BROADCASTER, "never-chatted") == frozenset()
    assert await d.read(roles.of_viewer, BROADCASTER, None) == frozenset()


def test_eligibility_and_priority() -> None:
    sub, vip, mod, plain = frozenset({"subscriber"}), frozenset({"vip"}), frozenset({"moderator"}), frozenset()
    assert all(roles.eligible("everyone", r) for r in (sub, vip, mod, plain))
    assert [roles.eligible("subscribers", r) for r in (sub, vip, mod, plain)] == [True, False, True, False]
    assert [roles.eligible("subscribers_vips", r) for r in (sub, vip, mod, plain)] == [True, True, True, False]
    assert [roles.prioritized(["vips"], r) for r in (sub, vip, mod, plain)] == [False, True, False, False]
    assert [roles.prioritized(["subscribers", "vips"], r) for r in (sub, vip, mod, plain)] == [True, True, False, False]
    assert roles.who("subscribers_vips") == "subscribers and VIPs"
