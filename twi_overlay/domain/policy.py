"""The policy: which command a Twitch redemption becomes. Keyed by reward id, never by title."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Command:
    type: str
    payload: dict[str, Any]


def decide(settings_doc: dict[str, Any], redemption: dict[str, Any]) -> Command | None:
    binding = settings_doc.get("rewards", {}).get(redemption.get("reward_id") or "")
    if binding == "queue":
        return Command(
            "queue.enqueue",
            {
                "user_id": redemption.get("user_id"),
                "user_login": redemption.get("user_login"),
                "user_name": redemption.get("user_name") or redemption.get("user_login") or "?",
                "note": redemption.get("user_input") or "",
                "reward_id": redemption.get("reward_id"),
                "redemption_id": redemption.get("redemption_id"),
            },
        )
    if isinstance(binding, str) and binding.startswith("counter:"):
        return Command("counter.increment", {"name": binding[len("counter:") :], "by": 1})
    return None
