"""A broadcaster's settings: the document, partial merges validated field by field, `settings.update`.

The document (docs/api.md, "Settings"): `queue` (open, max_length, per_user_limit), `rewards` (reward
id -> "queue" | "counter:<name>" | "ignore"), `overlay` (what the OBS source shows and how: layout,
colours, sound), `public_page` (enabled, show_notes) and `moderators` (enabled), with a version
bumped on every change.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from twi_overlay import repo
from twi_overlay.domain.context import Ctx, Handler, Result
from twi_overlay.domain.events import Event
from twi_overlay.domain.outcomes import Refusal, Refuse, invalid, malformed
from twi_overlay.domain.payload import COUNTER_NAME
from twi_overlay.repo.settings import StoredSettings
from twi_overlay.store.tx import Tx

DEFAULT_SETTINGS: dict[str, Any] = {
    "queue": {"open": True, "max_length": 50, "per_user_limit": 1},
    "rewards": {},
    "overlay": {
        "max_visible": 10,
        "show_counters": True,
        "theme": "dark",
        "animations": True,
        "position": "top-right",
        "width": 560,  # px of the 1920 x 1080 source
        "font_scale": 100,  # percent
        "accent": "",  # "#rrggbb", or "" for the theme's
        "text": "",
        "panel": "",
        "hide_empty": False,  # no queue card while nobody is in the queue
        "sound": False,  # a sound on each new entry
        "sound_volume": 50,  # percent
        "sound_file": "builtin",  # or the sha256 of a file uploaded with POST /api/overlay-sound
    },
    "public_page": {"enabled": False, "show_notes": False},  # /q/<login>: off until the streamer opens it
    "moderators": {"enabled": True},  # the channel's moderators may sign in and run the queue and counters
}
_INT_RANGES = {
    ("queue", "max_length"): (1, 1000),
    ("queue", "per_user_limit"): (1, 100),
    ("overlay", "max_visible"): (1, 50),
    ("overlay", "width"): (280, 1200),
    ("overlay", "font_scale"): (50, 200),
    ("overlay", "sound_volume"): (0, 100),
}
_BOOLS = {
    ("queue", "open"),
    ("overlay", "show_counters"),
    ("overlay", "animations"),
    ("overlay", "hide_empty"),
    ("overlay", "sound"),
    ("public_page", "enabled"),
    ("public_page", "show_notes"),
    ("moderators", "enabled"),
}
_CHOICES = {
    ("overlay", "theme"): ("dark", "light"),
    ("overlay", "position"): ("top-left", "top-right", "bottom-left", "bottom-right"),
}
_COLOURS = {("overlay", "accent"), ("overlay", "text"), ("overlay", "panel")}
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_SOUND_FILE = re.compile(r"^(builtin|[0-9a-f]{64})$")


def default_settings() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_SETTINGS)


def load(tx: Tx, broadcaster_id: str) -> StoredSettings:
    """The broadcaster's settings; a broadcaster without any gets the defaults stored as version 1. A
    document stored before a section or field existed reads with its default."""
    found = repo.settings.get(tx, broadcaster_id)
    if found is None:
        repo.settings.insert(tx, broadcaster_id, default_settings())
        return StoredSettings(1, default_settings())
    return StoredSettings(found.version, with_defaults(found.doc))


def with_defaults(doc: dict[str, Any]) -> dict[str, Any]:
    filled = default_settings()
    for section, values in doc.items():
        if section in filled and isinstance(values, dict):
            filled[section].update(values)
    return filled


def current(ctx: Ctx) -> StoredSettings:
    """The settings a command works with, read once per command."""
    if ctx.settings is None:
        ctx.settings = load(ctx.tx, ctx.broadcaster_id)
    return ctx.settings


def valid_binding(value: Any) -> bool:
    if value in ("queue", "ignore"):
        return True
    return isinstance(value, str) and value.startswith("counter:") and bool(COUNTER_NAME.match(value[8:]))


def merge_settings(current: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Apply a partial settings document; refuses (422) naming the first bad field."""
    if not isinstance(patch, dict):
        raise invalid("settings", "must be an object")
    merged = copy.deepcopy(current)
    for section, values in patch.items():
        if section not in DEFAULT_SETTINGS:
            raise invalid(f"settings.{section}", "unknown section")
        if not isinstance(values, dict):
            raise invalid(f"settings.{section}", "must be an object")
        if section == "rewards":
            _merge_bindings(merged["rewards"], values)
            continue
        for name, value in values.items():
            _check(section, name, value)
            merged[section][name] = value
    return merged


def _merge_bindings(bindings: dict[str, Any], patch: dict[str, Any]) -> None:
    for reward_id, binding in patch.items():
        if not reward_id or len(reward_id) > 100:
            raise invalid("settings.rewards", "reward ids must be 1-100 characters")
        if binding is None:
            bindings.pop(reward_id, None)
        elif not valid_binding(binding):
            raise invalid(f"settings.rewards.{reward_id}", 'must be "queue", "counter:<name>" or "ignore"')
        else:
            bindings[reward_id] = binding


def _check(section: str, name: str, value: Any) -> None:
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
    elif key in _COLOURS:
        if not isinstance(value, str) or not (value == "" or _COLOUR.match(value)):
            raise invalid(field, 'must be a colour "#rrggbb", or "" for the theme\'s')
    elif key == ("overlay", "sound_file"):
        if not isinstance(value, str) or not _SOUND_FILE.match(value):
            raise invalid(field, 'must be "builtin" or the id POST /api/overlay-sound gave')
    else:
        raise invalid(field, "unknown field")


def public_settings(version: int, doc: dict[str, Any]) -> dict[str, Any]:
    """What the overlay may see: no reward bindings."""
    return {"version": version, "queue": dict(doc["queue"]), "overlay": dict(doc["overlay"])}


def full_settings(version: int, doc: dict[str, Any]) -> dict[str, Any]:
    return {"version": version, **copy.deepcopy(doc)}


def update(ctx: Ctx, payload: dict[str, Any]) -> Result:
    """settings.update {version, settings}: sections merge into the current document."""
    version = payload.get("version")
    if type(version) is not int:
        raise malformed("payload.version must be an integer")
    if "settings" not in payload:
        raise malformed("payload.settings is required")
    stored = current(ctx)
    if version != stored.version:
        raise Refuse(
            Refusal.CONFLICT,
            "version_conflict",
            f"settings are at version {stored.version}, not {version}; reload and retry",
        )
    merged = merge_settings(stored.doc, payload["settings"])
    if not repo.settings.update(ctx.tx, ctx.broadcaster_id, version, merged):
        raise Refuse(Refusal.CONFLICT, "version_conflict", "settings changed meanwhile; reload and retry")
    ctx.settings = StoredSettings(version + 1, merged)
    if stored.doc["moderators"]["enabled"] and not merged["moderators"]["enabled"]:
        # Moderator access turned off: their sessions end now (and their streams: stream/access.py).
        repo.auth.delete_moderator_sessions(ctx.tx, ctx.broadcaster_id)
    full = full_settings(version + 1, merged)
    ctx.emit(
        Event(
            ctx.broadcaster_id,
            "settings.updated",
            {"settings": full},
            {"settings": public_settings(version + 1, merged)},
        )
    )
    return Result(data={"settings": full})


COMMANDS: dict[str, Handler] = {"settings.update": update}
ADMIN_COMMANDS = frozenset(COMMANDS)
