"""What a command handler gets (the transaction, whose state, who asked) and what it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twi_overlay.domain.events import Event, Say
from twi_overlay.repo.settings import StoredSettings
from twi_overlay.store.tx import Tx


@dataclass(frozen=True, slots=True)
class Actor:
    """Who ran a command, when a person did: the streamer or a moderator signed in to the admin page."""

    user_id: str
    name: str
    role: str  # broadcaster | moderator


@dataclass
class Ctx:
    tx: Tx
    broadcaster_id: str
    source: str  # admin | twitch | chat | mock
    actor: Actor | None = None
    events: list[Event] = field(default_factory=list)
    settings: StoredSettings | None = None  # loaded once per command (domain/settings.py: current)
    said: list[Say] = field(default_factory=list)
    reply_to: str | None = None  # a chat command: the message its answers reply to

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def say(self, text: str, reply: bool = True) -> None:
        """Send `text` to the channel's chat after the commit; as a reply to the chat command being run,
        unless `reply` is False. An empty text (a reply turned off in the settings) is not sent."""
        if text:
            self.said.append(Say(self.broadcaster_id, text, self.reply_to if reply else None))


@dataclass(frozen=True, slots=True)
class Result:
    result: str = "ok"  # ok | rejected
    reason: str | None = None
    data: dict[str, Any] | None = None


Handler = Callable[[Ctx, dict[str, Any]], Result]
