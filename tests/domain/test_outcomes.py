"""Outcomes: the JSON answer of a handled command, and both kinds kept and replayed unchanged."""

from __future__ import annotations

import orjson

from twi_overlay.domain.outcomes import Handled, Refusal, Refused


def test_a_handled_answer_round_trips_through_the_log() -> None:
    handled = Handled("rejected", "queue_full", {"refund": "pending"}, ({"type": "x", "data": {}},))
    answer = handled.answer()
    assert answer == {
        "result": "rejected",
        "reason": "queue_full",
        "data": {"refund": "pending"},
        "events": [{"type": "x", "data": {}}],
    }
    replayed = Handled.replay(orjson.loads(orjson.dumps(answer)))
    assert replayed.answer() == {**answer, "replayed": True}
    assert Handled("ok").answer() == {"result": "ok", "events": []}


def test_a_refusal_round_trips_through_the_log() -> None:
    refused = Refused(Refusal.CONFLICT, "version_conflict", "settings are at version 3")
    assert refused.reason == "version_conflict: settings are at version 3"
    assert Refused.from_stored(orjson.loads(orjson.dumps(refused.stored()))) == refused
