"""EventSub protocol facts: signature and timestamp checks, message and subscription types, and the
normalisation of notification payloads into commands (docs/architecture.md, "Twitch")."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_TS = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")

REDEMPTION_ADD = "channel.channel_points_custom_reward_redemption.add"
REDEMPTION_UPDATE = "channel.channel_points_custom_reward_redemption.update"
REWARD_ADD = "channel.channel_points_custom_reward.add"
REWARD_UPDATE = "channel.channel_points_custom_reward.update"
REWARD_REMOVE = "channel.channel_points_custom_reward.remove"
STREAM_ONLINE = "stream.online"
STREAM_OFFLINE = "stream.offline"
MODERATOR_ADD = "channel.moderator.add"
MODERATOR_REMOVE = "channel.moderator.remove"
MODERATOR_TYPES = (MODERATOR_ADD, MODERATOR_REMOVE)  # need the moderation:read scope
CHAT_MESSAGE = "channel.chat.message"  # condition also names the reader (user_id): the broadcaster's account
BAN = "channel.ban"  # needs channel:moderate
HANDLED_TYPES = (
    REDEMPTION_ADD,
    REDEMPTION_UPDATE,
    REWARD_ADD,
    REWARD_UPDATE,
    REWARD_REMOVE,
    STREAM_ONLINE,
    STREAM_OFFLINE,
)
MOCK_PREFIX = "mock-"  # message ids of development's mock redemptions (web/pages.py): logged as source "mock"
MESSAGE_TYPES = ("notification", "webhook_callback_verification", "revocation")
RESUBSCRIBE_REASONS = frozenset({"notification_failures_exceeded", "version_removed"})
RECONSENT_REASONS = frozenset({"authorization_revoked", "user_removed"})


def sign(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    # Not hmac.digest: its one-shot OpenSSL call releases the GIL whatever the size, and under load the
    # database thread takes it in between; py-spy put ~8 us a delivery there against ~2 us for this.
    mac = hmac.new(secret.encode(), message_id.encode() + timestamp.encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signature_ok(secret: str, message_id: str, timestamp: str, body: bytes, signature: str) -> bool:
    expected = sign(secret, message_id, timestamp, body)
    return hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace"))


def parse_timestamp(value: str) -> float | None:
    """RFC3339 with 0-9 fractional digits (Twitch sends nanoseconds) → epoch seconds, or None."""
    m = _TS.match(value.strip())
    if not m:
        return None
    base, frac, zone = m.groups()
    whole = _whole_seconds(base, zone)
    if whole is None:
        return None
    return whole + (int(frac) / 10 ** len(frac) if frac else 0.0)


@functools.lru_cache(maxsize=64)  # deliveries arriving together share their second: parse it once
def _whole_seconds(base: str, zone: str) -> float | None:
    try:
        dt = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return None
    return dt.astimezone(UTC).timestamp()


def fresh(sent_at: float | None, now: float, window: float) -> bool:
    """A delivery's timestamp within `window` seconds of our clock, either way (Twitch's replay guard)."""
    return sent_at is not None and abs(now - sent_at) <= window


@dataclass(frozen=True)
class Normalised:
    broadcaster_id: str
    command: str
    payload: dict[str, Any]
    idempotency_key: str | None


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


def broadcaster_of(body: dict[str, Any]) -> str | None:
    event = body.get("event")
    if isinstance(event, dict):
        from_event = event.get("broadcaster_user_id")
        if isinstance(from_event, str):
            return from_event
    sub = body.get("subscription")
    if isinstance(sub, dict) and isinstance(sub.get("condition"), dict):
        value = sub["condition"].get("broadcaster_user_id")
        return value if isinstance(value, str) else None
    return None


def normalise(subscription_type: str, body: dict[str, Any]) -> Normalised | None:
    """A notification body → the command it asks for; None for types we store but do not handle."""
    event = body.get("event")
    bid = broadcaster_of(body)
    if not isinstance(event, dict) or not bid:
        return None
    if subscription_type in (REDEMPTION_ADD, REDEMPTION_UPDATE):
        found = event.get("reward")
        reward: dict[str, Any] = found if isinstance(found, dict) else {}
        rid = _s(event.get("id"))
        if not rid:
            return None
        payload = {
            "redemption_id": rid,
            "reward_id": _s(reward.get("id")),
            "reward_title": _s(reward.get("title")),
            "reward_cost": reward.get("cost") if isinstance(reward.get("cost"), int) else 0,
            "user_id": _s(event.get("user_id")),
            "user_login": _s(event.get("user_login")),
            "user_name": _s(event.get("user_name")),
            "user_input": _s(event.get("user_input")),
            "status": _s(event.get("status")),
            "redeemed_at": _s(event.get("redeemed_at")),
        }
        if subscription_type == REDEMPTION_ADD:
            return Normalised(bid, "redemption.add", payload, f"redemption:{rid}")
        return Normalised(bid, "redemption.update", payload, f"redemption-update:{rid}")
    if subscription_type in (REWARD_ADD, REWARD_UPDATE, REWARD_REMOVE):
        reward_id = _s(event.get("id"))
        if not reward_id:
            return None
        return Normalised(
            bid,
            "reward.sync",
            {
                "id": reward_id,
                "title": _s(event.get("title")),
                "cost": event.get("cost") if isinstance(event.get("cost"), int) else 0,
                "is_enabled": bool(event.get("is_enabled", True)),
                "is_paused": bool(event.get("is_paused", False)),
                "removed": subscription_type == REWARD_REMOVE,
            },
            None,
        )
    if subscription_type == STREAM_ONLINE:
        return Normalised(bid, "stream.online", {"started_at": _s(event.get("started_at"))}, None)
    if subscription_type == STREAM_OFFLINE:
        return Normalised(bid, "stream.offline", {}, None)
    if subscription_type in MODERATOR_TYPES:
        user = {k: _s(event.get(k)) for k in ("user_id", "user_login", "user_name")}
        command = "moderator.add" if subscription_type == MODERATOR_ADD else "moderator.remove"
        return Normalised(bid, command, user, None)
    if subscription_type == CHAT_MESSAGE:
        return _chat_message(bid, event)
    if subscription_type == BAN:
        user = {k: _s(event.get(k)) for k in ("user_id", "user_login", "user_name")}
        if not user["user_id"]:
            return None
        # A timeout ends too (ends_at): they may join again after it; a ban or a timeout both leave now.
        return Normalised(bid, "viewer.banned", {**user, "is_permanent": event.get("is_permanent") is True}, None)
    return None


def _chat_message(bid: str, event: dict[str, Any]) -> Normalised | None:
    """channel.chat.message → `chat.message` (domain/chat.py decides whether it is a command). Its
    idempotency key is the chat message's own id: the same message delivered twice, under two
    delivery ids, acts once."""
    message_id = _s(event.get("message_id"))
    chatter = _s(event.get("chatter_user_id"))
    if not message_id or not chatter:
        return None
    found_message, found_badges = event.get("message"), event.get("badges")
    message: dict[str, Any] = found_message if isinstance(found_message, dict) else {}
    badges: list[Any] = found_badges if isinstance(found_badges, list) else []
    source = event.get("source_broadcaster_user_id")
    payload = {
        "message_id": message_id,
        "user_id": chatter,
        "user_login": _s(event.get("chatter_user_login")),
        "user_name": _s(event.get("chatter_user_name")) or _s(event.get("chatter_user_login")),
        "text": _s(message.get("text")),
        "badges": [_s(b.get("set_id")) for b in badges if isinstance(b, dict)],
        "is_reply": isinstance(event.get("reply"), dict),
        "shared_from": source if isinstance(source, str) and source and source != bid else None,
    }
    return Normalised(bid, "chat.message", payload, f"chat:{message_id}")
