"""Checks on command payloads: each failure names the field (400 for a wrong type, 422 for a value)."""

from __future__ import annotations

import re
from typing import Any

from twi_overlay.domain.outcomes import invalid, malformed

COUNTER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def as_object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise malformed("payload must be an object")
    return payload


def integer(payload: dict[str, Any], name: str, lo: int, hi: int, default: int | None = None) -> int:
    value = payload.get(name, default)
    if value is None:
        raise malformed(f"payload.{name} is required")
    if type(value) is not int:
        raise malformed(f"payload.{name} must be an integer")
    if not lo <= value <= hi:
        raise invalid(f"payload.{name}", f"must be between {lo} and {hi}")
    return value


def text(payload: dict[str, Any], name: str, max_len: int, required: bool = True) -> str:
    value = payload.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise malformed(f"payload.{name} must be a string")
    value = value.strip()
    if required and not value:
        raise invalid(f"payload.{name}", "must not be empty")
    if len(value) > max_len:
        raise invalid(f"payload.{name}", f"at most {max_len} characters")
    return value


def flag(payload: dict[str, Any], name: str, default: bool = False) -> bool:
    value = payload.get(name, default)
    if type(value) is not bool:
        raise malformed(f"payload.{name} must be true or false")
    return value


def counter_name(payload: dict[str, Any]) -> str:
    name = payload.get("name")
    if not isinstance(name, str):
        raise malformed("payload.name must be a string")
    if not COUNTER_NAME.match(name):
        raise invalid("payload.name", "1-64 characters of A-Z a-z 0-9 _ . -")
    return name
