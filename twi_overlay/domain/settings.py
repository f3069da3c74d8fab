"""Per-broadcaster settings: the exact SPEC §5 document, partial merges, validation naming the field."""

from __future__ import annotations

import copy
import re
from typing import Any

from twi_overlay.domain.errors import CommandError

DEFAULT_SETTINGS: dict[str, Any] = {
    "queue": {"open": True, "max_length": 50, "per_user_limit": 1},
    "rewards": {},
    "overlay": {"max_visible": 10, "show_counters": True, "theme": "dark", "animations": True},
}
COUNTER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_INT_RANGES = {
    ("queue", "max_length"): (1, 1000),
    ("queue", "per_user_limit"): (1, 100),
    ("overlay", "max_visible"): (1, 50),
}
_BOOLS = {("queue", "open"), ("overlay", "show_counters"), ("overlay", "animations")}
_CHOICES = {("overlay", "theme"): ("dark", "light")}


def default_settings() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_SETTINGS)


def invalid(field: str, message: str) -> CommandError:
    return CommandError(422, "invalid_value", f"{field}: {message}")


def valid_binding(value: Any) -> bool:
    if value in ("queue", "ignore"):
        return True
    return isinstance(value, str) and value.startswith("counter:") and bool(COUNTER_NAME.match(value[8:]))


def merge_settings(current: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Apply a partial settings document; raises 422 naming the first bad field."""
    if not isinstance(patch, dict):
        raise invalid("settings", "must be an object")
    merged = copy.deepcopy(current)
    for section, values in patch.items():
        if section not in DEFAULT_SETTINGS:
            raise invalid(f"settings.{section}", "unknown section")
        if not isinstance(values, dict):
            raise invalid(f"settings.{section}", "must be an object")
        if section == "rewards":
            for reward_id, binding in values.items():
                if not reward_id or len(reward_id) > 100:
                    raise invalid("settings.rewards", "reward ids must be 1-100 characters")
                if binding is None:
                    merged["rewards"].pop(reward_id, None)
                elif not valid_binding(binding):
                    raise invalid(f"settings.rewards.{reward_id}", 'must be "queue", "counter:<name>" or "ignore"')
                else:
                    merged["rewards"][reward_id] = binding
            continue
        for name, value in values.items():
            key = (section, name)
            field = f"settings.{section}.{name}"
            if key in _INT_RANGES:
                lo, hi = _INT_RANGES[key]
                if type(value) is not int or not lo <= value <= hi:
                    raise invalid(field, f"must be an integer {lo}-{hi}")
            elif key in _BOOLS:
                if type(value) is not bool:
                    raise invalid(field, "must be true or false")
            elif key in _CHOICES:
                if value not in _CHOICES[key]:
                    raise invalid(field, "must be one of " + ", ".join(_CHOICES[key]))
            else:
                raise invalid(field, "unknown field")
            merged[section][name] = value
    return merged


def public_settings(version: int, doc: dict[str, Any]) -> dict[str, Any]:
    """What the overlay may see: no reward bindings."""
    return {"version": version, "queue": dict(doc["queue"]), "overlay": dict(doc["overlay"])}


def full_settings(version: int, doc: dict[str, Any]) -> dict[str, Any]:
    return {"version": version, **copy.deepcopy(doc)}
