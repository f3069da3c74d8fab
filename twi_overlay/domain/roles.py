"""Who a viewer is in a channel, for who may join the queue, who goes first and who may run the
moderators' chat commands.

Where a redemption learns the viewer's role: from the badges their last chat message showed (the
`chatters` table, kept a month after they last chatted), not from Twitch's subscription and VIP
APIs. A redemption is processed in the same transaction that stores it, and must never wait on, or
fail with, a Helix call (Twitch down for an hour must not stop the queue); Get Broadcaster
Subscriptions and Get VIPs would need two more scopes and one call per redemption, or a full list
per channel refreshed on a timer that is stale anyway. Badges arrive with every chat message at no
cost. The price: a subscriber who has never chatted (since the server started keeping track) counts
as everyone else until they say something in chat; the admin page says so.

Moderator powers are not taken from badges: the broadcaster, and whoever Twitch lists as the
channel's moderator (Get Moderators, kept current by the moderator events), have them.
"""

from __future__ import annotations

from collections.abc import Iterable

from twi_overlay import repo
from twi_overlay.store.tx import Tx

BROADCASTER = "broadcaster"
MODERATOR = "moderator"
VIP = "vip"
SUBSCRIBER = "subscriber"
# Badge set ids → roles. `founder` replaces `subscriber` for early subscribers (the viewer picks which
# badge shows): they are subscribers. `lead_moderator` is a moderator.
BADGES = {
    "broadcaster": BROADCASTER,
    "moderator": MODERATOR,
    "lead_moderator": MODERATOR,
    "vip": VIP,
    "subscriber": SUBSCRIBER,
    "founder": SUBSCRIBER,
}


def from_badges(set_ids: Iterable[str]) -> frozenset[str]:
    return frozenset(BADGES[s] for s in set_ids if s in BADGES)


def of_viewer(tx: Tx, broadcaster_id: str, user_id: str | None, seen: Iterable[str] | None = None) -> frozenset[str]:
    """The viewer's roles: `seen` (this message's, from its badges) or those of their last chat message,
    with moderator and broadcaster from the moderator list and the channel itself."""
    roles: set[str] = set()
    if user_id:
        if seen is not None:
            roles |= set(seen)
        else:
            chatter = repo.chatters.get(tx, broadcaster_id, user_id)
            if chatter is not None:
                roles |= chatter.roles
        roles.discard(MODERATOR)
        roles.discard(BROADCASTER)
        if user_id == broadcaster_id:
            roles.add(BROADCASTER)
        elif repo.moderators.is_moderator(tx, broadcaster_id, user_id):
            roles.add(MODERATOR)
    return frozenset(roles)


def moderates(roles: frozenset[str]) -> bool:
    return BROADCASTER in roles or MODERATOR in roles


def eligible(rule: str, roles: frozenset[str]) -> bool:
    """queue.eligibility: everyone, subscribers, or subscribers_vips. The channel's own team always is."""
    if rule == "everyone" or moderates(roles):
        return True
    if rule == "subscribers":
        return SUBSCRIBER in roles
    return SUBSCRIBER in roles or VIP in roles


def prioritized(priority: list[str], roles: frozenset[str]) -> bool:
    """queue.priority: a viewer with one of these roles goes ahead of everyone else."""
    return ("subscribers" in priority and SUBSCRIBER in roles) or ("vips" in priority and VIP in roles)


def who(rule: str) -> str:
    return {"subscribers": "subscribers", "subscribers_vips": "subscribers and VIPs"}.get(rule, "everyone")
