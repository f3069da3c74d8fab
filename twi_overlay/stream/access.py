"""Streams end when what opened them is taken away: after each commit, a moderator removed from the
channel (or moderator access turned off) loses the admin streams their sessions opened, at once.

A moderator's stream carries the credential `moderator:<user id>:<session hash>` (stream/sse.py); the
sessions themselves are deleted in the same transaction as the change (domain/moderators.py,
domain/settings.py), so the page's reconnect is refused too."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from twi_overlay.domain.events import Event
from twi_overlay.stream.hub import Client, Hub

MODERATOR = "moderator:"


def moderator_credential(user_id: str, session_hash: str) -> str:
    return f"{MODERATOR}{user_id}:{session_hash}"


def close_revoked(hub: Hub, events: Iterable[Event]) -> None:
    for event in events:
        if event.type == "moderators.changed":
            prefixes = tuple(f"{MODERATOR}{user_id}:" for user_id in event.data.get("removed_ids") or ())
        elif event.type == "settings.updated" and not event.data["settings"]["moderators"]["enabled"]:
            prefixes = (MODERATOR,)
        else:
            continue
        if prefixes:
            hub.close_streams(event.broadcaster_id, _starting_with(prefixes))


def _starting_with(prefixes: tuple[str, ...]) -> Callable[[Client], bool]:
    return lambda client: client.credential.startswith(prefixes)
