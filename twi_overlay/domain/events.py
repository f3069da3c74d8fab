"""Typed events (`noun.past-tense`) with an admin payload and, if public, an overlay payload."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from twi_overlay.repo.queue import QueueEntry


@dataclass(frozen=True, slots=True)
class Event:
    broadcaster_id: str
    type: str
    data: dict[str, Any]  # admin view: everything
    overlay: dict[str, Any] | None = None  # public view; None = admin only

    def wire(self) -> dict[str, Any]:
        return {"type": self.type, "data": self.data}


def entry_event(
    broadcaster_id: str,
    type_: str,
    *,
    entry: QueueEntry | None = None,
    entries: Sequence[QueueEntry] | None = None,
    **extra: Any,
) -> Event:
    """Queue events carry whole entries for the admin and trimmed entries for the overlay."""
    data, overlay = dict(extra), dict(extra)
    if entry is not None:
        data["entry"], overlay["entry"] = entry.admin_view(), entry.overlay_view()
    if entries is not None:
        data["entries"] = [e.admin_view() for e in entries]
        overlay["entries"] = [e.overlay_view() for e in entries]
    return Event(broadcaster_id, type_, data, overlay)


def admin_event(broadcaster_id: str, type_: str, data: dict[str, Any]) -> Event:
    return Event(broadcaster_id, type_, data, None)


def public_event(broadcaster_id: str, type_: str, data: dict[str, Any]) -> Event:
    return Event(broadcaster_id, type_, data, data)


@dataclass(frozen=True, slots=True)
class Say:
    """A chat message a command asks to send once its transaction commits (twitch/chat.py paces and
    sends it): not an event, never on a stream."""

    broadcaster_id: str
    text: str
    reply_to: str | None = None  # the chat message it answers, as a threaded reply
