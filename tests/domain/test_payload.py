"""Payload checks: a wrong type is malformed (400), a value out of range invalid (422), naming the field."""

from __future__ import annotations

import pytest

from twi_overlay.domain import payload
from twi_overlay.domain.outcomes import Refusal, Refuse


def refusal(fn: object, *args: object) -> tuple[Refusal, str]:
    with pytest.raises(Refuse) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.outcome.kind, info.value.outcome.message


def test_each_check() -> None:
    assert payload.as_object({"a": 1}) == {"a": 1}
    assert refusal(payload.as_object, [1]) == (Refusal.MALFORMED, "payload must be an object")
    assert payload.integer({}, "count", 1, 5, default=2) == 2
    assert refusal(payload.integer, {"count": True}, "count", 1, 5)[0] is Refusal.MALFORMED  # a bool is no integer
    assert refusal(payload.integer, {"count": 6}, "count", 1, 5) == (
        Refusal.INVALID,
        "payload.count: must be between 1 and 5",
    )
    assert payload.text({"n": "  padded "}, "n", 10) == "padded"
    assert refusal(payload.text, {"n": "   "}, "n", 10)[0] is Refusal.INVALID
    assert refusal(payload.text, {"n": "x" * 11}, "n", 10)[0] is Refusal.INVALID
    assert payload.text({}, "note", 10, required=False) == ""
    assert payload.flag({"random": True}, "random") is True
    assert refusal(payload.flag, {"random": "yes"}, "random")[0] is Refusal.MALFORMED
    assert payload.counter_name({"name": "deaths.total-2"}) == "deaths.total-2"
    assert refusal(payload.counter_name, {"name": "no spaces"})[0] is Refusal.INVALID
    assert refusal(payload.counter_name, {"name": 3})[0] is Refusal.MALFORMED
