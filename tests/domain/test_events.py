"""Events: what each audience gets of an entry event, and which events the overlay never sees."""

from __future__ import annotations

from twi_overlay.domain.events import admin_event, entry_event, public_event
from twi_overlay.repo.queue import QueueEntry

ENTRY = QueueEntry(7, 1, "waiting", "42", "ann", "Ann", "hi", "r", "red-1", "twitch", "t", None, None)


def test_entry_events_are_trimmed_for_the_overlay() -> None:
    event = entry_event("1337", "queue.moved", entry=ENTRY, entries=[ENTRY], mode="x")
    assert event.data["entry"] == ENTRY.admin_view() and event.data["mode"] == "x"
    assert event.overlay is not None and event.overlay["entries"] == [ENTRY.overlay_view()]
    assert "user_id" not in event.overlay["entry"] and "redemption_id" not in str(event.overlay)
    assert event.wire() == {"type": "queue.moved", "data": event.data}


def test_admin_and_public_events() -> None:
    assert admin_event("1", "command.logged", {"id": 1}).overlay is None
    counter = public_event("1", "counter.updated", {"name": "n", "value": 2})
    assert counter.overlay == counter.data
