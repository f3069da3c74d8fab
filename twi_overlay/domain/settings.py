"""A broadcaster's settings: the document, partial merges validated field by field, `settings.update`.

The document (docs/api.md, "Settings"): `queue` (open, max_length, per_user_limit), `rewards` (reward
id -> "queue" | "counter:<name>" | "ignore"), `overlay` (what the OBS source shows and how: layout,
colours, sound), `public_page` (enabled, show_notes), `moderators` (enabled) and `chat` (commands and
their replies), with a version bumped on every change.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from twi_overlay import repo
from twi_overlay.domain.context import Ctx, Handler, Result
from twi_overlay.domain.events import Event, admin_event
from twi_overlay.domain.outcomes import Refusal, Refuse, invalid, malformed
from twi_overlay.domain.payload import COUNTER_NAME
from twi_overlay.repo.settings import StoredSettings
from twi_overlay.store.tx import Tx

CHAT_COMMANDS = ("join", "leave", "position", "queue", "next", "random", "open", "close", "remove", "done", "count")
# What chat answers, with {placeholders}; a reply set to "" is not sent.
CHAT_REPLIES = {
    "joined": "@{user} you're #{position} in the queue",
    "already": "@{user} you're already #{position} in the queue",
    "closed": "@{user} the queue is closed",
    "full": "@{user} the queue is full",
    "not_eligible": "@{user} this queue is for {who} only",
    "join_off": "@{user} join the queue with channel points",
    "left": "@{user} you left the queue",
    "position": "@{user} you're #{position}, {ahead} ahead of you",
    "not_in_queue": "@{user} you're not in the queue",
    "queue": "Next up: {names}",
    "queue_empty": "The queue is empty",
    "picked": "@{user} you're up!",
    "nobody_waiting": "@{user} nobody is waiting",
    "opened": "The queue is open: type {prefix}join to join",
    "closed_now": "The queue is closed",
    "removed": "@{user} {name} left the queue",
    "done": "@{user} {name} is done",
    "not_found": "@{user} {name} is not in the queue",
    "count": "{name}: {value}",
}
REPLY_PLACEHOLDERS = frozenset({"user", "position", "ahead", "names", "who", "prefix", "name", "value"})
ELIGIBILITY = ("everyone", "subscribers", "subscribers_vips")
PRIORITY_ROLES = ("subscribers", "vips")

DEFAULT_SETTINGS: dict[str, Any] = {
    "queue": {
        "open": True,
        "max_length": 50,
        "per_user_limit": 1,
        "eligibility": "everyone",  # or "subscribers", "subscribers_vips": who may join (not the admin's walk-ins)
        "priority": [],  # "subscribers" and/or "vips": placed ahead of everyone else, in join order
    },
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
    "chat": {
        "enabled": False,  # chat commands on (read as the broadcaster's account, answered in threads)
        "join": False,  # !join adds to the queue (channel-point joining is separate)
        "prefix": "!",
        "cooldown_secs": 10,  # per viewer, between commands that answer (moderators have none)
        "announce_picked": True,  # "you're up" in chat when a viewer is picked
        "commands": {name: name for name in CHAT_COMMANDS},  # what viewers type; "" turns one off
        "replies": dict(CHAT_REPLIES),
    },
}
_INT_RANGES = {
    ("queue", "max_length"): (1, 1000),
    ("queue", "per_user_limit"): (1, 100),
    ("overlay", "max_visible"): (1, 50),
    ("overlay", "width"): (280, 1200),
    ("overlay", "font_scale"): (50, 200),
    ("overlay", "sound_volume"): (0, 100),
    ("chat", "cooldown_secs"): (0, 3600),
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
    ("chat", "enabled"),
    ("chat", "join"),
    ("chat", "announce_picked"),
}
_CHOICES = {
    ("overlay", "theme"): ("dark", "light"),
    ("overlay", "position"): ("top-left", "top-right", "bottom-left", "bottom-right"),
    ("queue", "eligibility"): ELIGIBILITY,
}
_COLOURS = {("overlay", "accent"), ("overlay", "text"), ("overlay", "panel")}
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_SOUND_FILE = re.compile(r"^(builtin|[0-9a-f]{64})$")
_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,25}$")
_PREFIX = re.compile(r"^[^\sA-Za-z0-9]{1,3}$")
_PLACEHOLDER = re.compile(r"\{(\w*)\}")
MAX_REPLY = 300  # characters of a template; a sent message is cut at Twitch's 500


def default_settings() -> dict[str, Any]:
    """A fresh copy of the defaults. Not copy.deepcopy: every command reads its settings through this,
    and the document is sections of values whose dicts and lists hold only strings, so two levels of
    copying are a whole copy, at a third of deepcopy's cost."""
    return {
        section: {name: _copied(value) for name, value in values.items()}
        for section, values in DEFAULT_SETTINGS.items()
    }


def _copied(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value


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
            for name, value in values.items():
                if isinstance(value, dict) and isinstance(filled[section].get(name), dict) and section != "rewards":
                    filled[section][name].update(value)  # chat.commands, chat.replies: new keys get defaults
                else:
                    filled[section][name] = value
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
            if (section, name) in _NESTED:
                field = f"settings.{section}.{name}"
                merged[section][name] = _merge_map(field, merged[section][name], value, _NESTED[(section, name)])
                continue
            _check(section, name, value)
            merged[section][name] = value
    if "chat" in patch:
        changed = patch["chat"].get("commands")
        _check_commands_unique(merged["chat"]["commands"], list(changed) if isinstance(changed, dict) else [])
    return merged


def _check_command(field: str, command: str, name: Any) -> None:
    if command not in CHAT_COMMANDS:
        raise invalid(field, "unknown command")
    if not isinstance(name, str) or not (name == "" or _COMMAND_NAME.match(name)):
        raise invalid(field, 'must be 1-25 of a-z, 0-9 and _, or "" to turn it off')


def _check_commands_unique(commands: dict[str, str], changed: list[str]) -> None:
    """Two commands cannot share a name; the error names the one whose name the patch changed."""
    seen: dict[str, str] = {}
    for command in [c for c in commands if c not in changed] + changed:
        name = commands[command]
        if name and name in seen:
            raise invalid(f"settings.chat.commands.{command}", f"{name!r} is already the name of {seen[name]}")
        seen[name] = command


def _check_reply(field: str, key: str, template: Any) -> None:
    if key not in CHAT_REPLIES:
        raise invalid(field, "unknown reply")
    if not isinstance(template, str) or len(template) > MAX_REPLY:
        raise invalid(field, f"must be text of at most {MAX_REPLY} characters")
    unknown = sorted({m for m in _PLACEHOLDER.findall(template)} - REPLY_PLACEHOLDERS)
    if unknown:
        known = ", ".join(sorted(REPLY_PLACEHOLDERS))
        raise invalid(field, f"unknown placeholder {{{unknown[0]}}}; known: {known}")


# Fields whose value is itself a map of known keys (chat.commands, chat.replies): a patch merges into it.
_NESTED = {("chat", "commands"): _check_command, ("chat", "replies"): _check_reply}


def _merge_map(
    field: str, current: dict[str, str], patch: Any, check: Callable[[str, str, Any], None]
) -> dict[str, str]:
    if not isinstance(patch, dict):
        raise invalid(field, "must be an object")
    merged = dict(current)
    for key, value in patch.items():
        check(f"{field}.{key}", key, value)
        merged[key] = value
    return merged


def render(template: str, **values: Any) -> str:
    """A reply with its placeholders filled (a placeholder without a value stays as written)."""
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template)


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
    elif key == ("chat", "prefix"):
        if not isinstance(value, str) or not _PREFIX.match(value):
            raise invalid(field, "must be 1-3 characters that are not letters, digits or spaces")
    elif key == ("queue", "priority"):
        if not isinstance(value, list) or len(set(value)) != len(value) or not set(value) <= set(PRIORITY_ROLES):
            raise invalid(field, 'must be a list of "subscribers" and/or "vips", each at most once')
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
    if stored.doc["chat"]["enabled"] != merged["chat"]["enabled"]:
        # Chat's subscriptions are made or dropped at once (app.py), and the scopes it needs asked for.
        ctx.emit(admin_event(ctx.broadcaster_id, "chat.switched", {"enabled": merged["chat"]["enabled"]}))
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
