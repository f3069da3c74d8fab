"""Typed events (`noun.past-tense`) with an admin payload and, if public, an overlay payload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OVERLAY_ENTRY_FIELDS = ("id", "position", "status", "user_name", "user_input", "enqueued_at")


@dataclass(frozen=True, slots=True)
class Event:
    broadcaster_id: str
    type: str
    data: dict[str, Any]  # admin view: everything
    overlay: dict[str, Any] | None = None  # public view; None = admin only


def overlay_entry(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: entry[k] for k in OVERLAY_ENTRY_FIELDS}


def _project(value: Any) -> Any:
    if isinstance(value, dict) and "redemption_id" in value and "user_name" in value:
        return overlay_entry(value)
    if isinstance(value, list):
        return [_project(v) for v in value]
    return value


def queue_event(broadcaster_id: str, type_: str, data: dict[str, Any]) -> Event:
    """Queue events carry whole entries for the admin and trimmed entries for the overlay."""
    return Event(broadcaster_id, type_, data, {k: _project(v) for k, v in data.items()})


def admin_event(broadcaster_id: str, type_: str, data: dict[str, Any]) -> Event:
    return Event(broadcaster_id, type_, data, None)


def public_event(broadcaster_id: str, type_: str, data: dict[str, Any]) -> Event:
    return Event(broadcaster_id, type_, data, data)
