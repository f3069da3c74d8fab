"""settings.update: partial merges, validation naming the field, optimistic versions."""

from __future__ import annotations

from tests.domain.commands import ok, refused
from twi_overlay.domain.outcomes import Refusal
from twi_overlay.store.database import Database


async def test_settings_merge_validation_and_version(d: Database) -> None:
    r = await ok(
        d,
        "settings.update",
        {"version": 1, "settings": {"queue": {"open": False}, "rewards": {"r1": "counter:deaths"}}},
    )
    s = r["data"]["settings"]
    assert s["version"] == 2 and s["queue"] == {
        "open": False,
        "max_length": 50,
        "per_user_limit": 1,
        "eligibility": "everyone",
        "priority": [],
    }
    assert s["rewards"] == {"r1": "counter:deaths"} and s["overlay"]["theme"] == "dark"
    # overlay sees no reward bindings
    assert r["events"][0]["data"]["settings"]["rewards"] == {"r1": "counter:deaths"}
    conflict = await refused(d, "settings.update", {"version": 1, "settings": {}})
    assert (conflict.kind, conflict.code) == (Refusal.CONFLICT, "version_conflict")
    for patch, field in [
        ({"queue": {"max_length": 0}}, "settings.queue.max_length"),
        ({"queue": {"max_length": 1001}}, "settings.queue.max_length"),
        ({"queue": {"per_user_limit": 101}}, "settings.queue.per_user_limit"),
        ({"queue": {"open": "yes"}}, "settings.queue.open"),
        ({"overlay": {"max_visible": 51}}, "settings.overlay.max_visible"),
        ({"overlay": {"theme": "pink"}}, "settings.overlay.theme"),
        ({"overlay": {"colour": 1}}, "settings.overlay.colour"),
        ({"rewards": {"r2": "queue-ish"}}, "settings.rewards.r2"),
        ({"nonsense": {}}, "settings.nonsense"),
        ({"queue": {"eligibility": "friends"}}, "settings.queue.eligibility"),
        ({"queue": {"priority": ["subscribers", "subscribers"]}}, "settings.queue.priority"),
        ({"queue": {"priority": "vips"}}, "settings.queue.priority"),
        ({"moderators": {"enabled": 1}}, "settings.moderators.enabled"),
        ({"chat": {"enabled": "on"}}, "settings.chat.enabled"),
        ({"chat": {"prefix": "go"}}, "settings.chat.prefix"),
        ({"chat": {"prefix": "! "}}, "settings.chat.prefix"),
        ({"chat": {"cooldown_secs": -1}}, "settings.chat.cooldown_secs"),
        ({"chat": {"commands": {"dance": "dance"}}}, "settings.chat.commands.dance"),
        ({"chat": {"commands": {"join": "Join!"}}}, "settings.chat.commands.join"),
        ({"chat": {"commands": {"join": "leave"}}}, "settings.chat.commands.join"),
        ({"chat": {"commands": []}}, "settings.chat.commands"),
        ({"chat": {"replies": {"joined": "{user} is #{place}"}}}, "settings.chat.replies.joined"),
        ({"chat": {"replies": {"joined": "x" * 301}}}, "settings.chat.replies.joined"),
        ({"chat": {"replies": {"hello": "hi"}}}, "settings.chat.replies.hello"),
        ({"chat": {"nope": True}}, "settings.chat.nope"),
    ]:
        err = await refused(d, "settings.update", {"version": 2, "settings": patch})
        assert err.kind is Refusal.INVALID and err.message.startswith(field + ":"), (patch, err.message)
    r = await ok(d, "settings.update", {"version": 2, "settings": {"rewards": {"r1": None, "r3": "queue"}}})
    assert r["data"]["settings"]["rewards"] == {"r3": "queue"}
    assert (await refused(d, "settings.update", {"settings": {}})).kind is Refusal.MALFORMED


async def test_a_document_from_before_a_field_existed_reads_with_its_default(d: Database) -> None:
    """Stored before chat.replies had "count": the merge keeps what was set and fills what is new."""
    from tests.helpers import BROADCASTER
    from twi_overlay import repo
    from twi_overlay.domain import settings

    doc = settings.default_settings()
    doc["chat"]["replies"] = {"joined": "in at {position}"}
    del doc["queue"]["priority"]
    await d.write(repo.settings.update, BROADCASTER, 1, doc)
    stored = await d.read(settings.load, BROADCASTER)
    assert stored.doc["chat"]["replies"]["joined"] == "in at {position}"
    assert stored.doc["chat"]["replies"]["count"] == settings.CHAT_REPLIES["count"]
    assert stored.doc["queue"]["priority"] == []


def test_each_copy_of_the_defaults_is_its_own() -> None:
    """The defaults are copied two levels deep, not with deepcopy: a change to a copy's nested dict or
    list must not reach the defaults or another copy."""
    import copy

    from twi_overlay.domain import settings

    first, second = settings.default_settings(), settings.default_settings()
    assert first == copy.deepcopy(settings.DEFAULT_SETTINGS)
    first["chat"]["replies"]["joined"] = "changed"
    first["queue"]["priority"].append("vips")
    first["rewards"]["r"] = "queue"
    assert second == settings.default_settings() == copy.deepcopy(settings.DEFAULT_SETTINGS)
