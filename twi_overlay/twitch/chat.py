"""Answering in chat: Send Chat Message (POST /helix/chat/messages), as threaded replies, paced under
Twitch's limits for the sending account.

Twitch's limits are per sender: the broadcaster (or a moderator or VIP of the channel) may send 100
messages per 30 s; anyone else 20 per 30 s and one per second in each channel. Going over makes Twitch
ignore the sender for an hour, so the pacer never lets a message go that would break either rule.
What cannot go yet waits in a short per-channel queue; when that is full, a new message is merged
into the last one waiting (both fit in Twitch's 500 characters), or dropped and counted. Nothing is
queued without bound, an answer still waiting after MAX_AGE_SECS is dropped as stale, and a message
Twitch did not send (`is_sent: false`, or an error) is logged
and counted, never retried blindly: a chat answer that comes a minute late is worse than none.

The sender is the channel's chat bot when one signed in (its own grant; privileged where Twitch lists
it as a moderator), else the broadcaster's own account with the broadcaster's grant.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import aiohttp

from twi_overlay import repo
from twi_overlay.domain.events import Say
from twi_overlay.ops import metrics
from twi_overlay.store.database import Database, DatabaseClosed
from twi_overlay.store.tx import Tx
from twi_overlay.twitch.client import ReconsentNeeded, Twitch, TwitchError, json_object

log = logging.getLogger(__name__)
MAX_MESSAGE = 500  # Twitch's limit, in characters
WINDOW_SECS = 30.0
PRIVILEGED_PER_WINDOW = 100  # the broadcaster, or a moderator or VIP of the channel
OTHERS_PER_WINDOW = 20
CHANNEL_GAP_SECS = 1.0  # anyone else: one message per second in each channel
SAFETY_SECS = 0.25  # our clock and Twitch's are not the same clock
MAX_WAITING = 10  # per channel; past it, merged or dropped
MAX_AGE_SECS = 20.0  # an answer not sent by then is dropped: the conversation has moved on
MERGE_JOIN = " · "


@dataclass
class Pacer:
    """Which message may go now under the sender's limits, or how long until one may (a pure clock
    function: tests drive it with their own clock)."""

    clock: Callable[[], float] = time.monotonic
    sent: dict[str, deque[float]] = field(default_factory=dict)  # sender id -> send times in the window
    last_in_channel: dict[tuple[str, str], float] = field(default_factory=dict)

    def wait(self, sender: str, channel: str, privileged: bool) -> float:
        """0 when a message from `sender` may go to `channel` now, else the seconds until it may."""
        now = self.clock()
        times = self.sent.setdefault(sender, deque())
        while times and now - times[0] >= WINDOW_SECS + SAFETY_SECS:
            times.popleft()
        limit = PRIVILEGED_PER_WINDOW if privileged else OTHERS_PER_WINDOW
        wait = 0.0
        if len(times) >= limit:
            wait = times[len(times) - limit] + WINDOW_SECS + SAFETY_SECS - now
        if not privileged:
            last = self.last_in_channel.get((sender, channel))
            if last is not None:
                wait = max(wait, last + CHANNEL_GAP_SECS + SAFETY_SECS - now)
        return max(0.0, wait)

    def took(self, sender: str, channel: str) -> None:
        now = self.clock()
        self.sent.setdefault(sender, deque()).append(now)
        self.last_in_channel[(sender, channel)] = now


@dataclass(frozen=True, slots=True)
class Sender:
    user_id: str
    privileged: bool  # the broadcaster, or a moderator of the channel: the larger limit, no per-second rule
    bot: bool  # the channel's chat bot (its own grant), not the broadcaster's account


def sender_of(tx: Tx, channel: str) -> Sender:
    """Who answers in this channel's chat: its chat bot when one is usable, else the broadcaster."""
    bot = repo.chat_bots.get(tx, channel)
    if bot is not None and bot.usable:
        return Sender(bot.user_id, repo.moderators.is_moderator(tx, channel, bot.user_id), True)
    return Sender(channel, True, False)


def fit(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


class ChatSender:
    def __init__(self, db: Database, twitch: Twitch, pacer: Pacer | None = None):
        self.db = db
        self.twitch = twitch
        self.pacer = pacer or Pacer()
        self.waiting: dict[str, deque[Say]] = {}  # by channel (broadcaster id)
        self.queued_at: dict[str, deque[float]] = {}  # by channel: when each waiting message came
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self.results: deque[tuple[str, str]] = deque(maxlen=100)  # (channel, outcome): the last few
        self.counts: dict[str, int] = {}  # outcome -> how many, since start (as chat_messages_total)
        self.senders: dict[str, Sender] = {}  # by channel: who sends there, as last looked up

    def send(self, messages: Iterable[Say]) -> None:
        """Messages whose commands committed (called from the database's commit callback)."""
        for message in messages:
            channel = message.broadcaster_id
            waiting = self.waiting.setdefault(channel, deque())
            if len(waiting) < MAX_WAITING:
                waiting.append(message)
                self.queued_at.setdefault(channel, deque()).append(self.pacer.clock())
                continue
            last = waiting[-1]
            merged = last.text + MERGE_JOIN + message.text
            if len(merged) <= MAX_MESSAGE:  # one message for two; no longer a reply to either
                waiting[-1] = Say(last.broadcaster_id, merged, None)
                self._count("merged")
            else:
                self._count("dropped_over_limit")
                log.debug("a chat answer was dropped: over the send limit", extra={"broadcaster_id": channel})
        self._wake.set()

    async def settled(self) -> None:
        """Until nothing is waiting that may go now (tests)."""
        while True:
            self._idle.clear()
            self._wake.set()
            await self._idle.wait()
            if all(self._wait_for(c) > 0 for c in self.waiting if self.waiting[c]):
                return

    def _wait_for(self, channel: str) -> float:
        sender = self.senders.get(channel) or Sender(channel, True, False)
        return self.pacer.wait(sender.user_id, channel, sender.privileged)

    async def run(self) -> None:
        while True:
            self._wake.clear()
            delay = await self._send_due()
            self._idle.set()
            if delay is None:
                await self._wake.wait()
            else:
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except TimeoutError:
                    pass

    async def _send_due(self) -> float | None:
        """Send every message whose turn it is, a channel at a time; the seconds until the next one may
        go, or None when nothing is waiting."""
        soonest: float | None = None
        for channel in list(self.waiting):
            sender = self.senders[channel] = await self.db.read(sender_of, channel)
            waiting, since = self.waiting[channel], self.queued_at[channel]
            while since and self.pacer.clock() - since[0] > MAX_AGE_SECS:
                waiting.popleft()
                since.popleft()
                self._count("expired")
            while waiting:
                wait = self._wait_for(channel)
                if wait > 0:
                    soonest = wait if soonest is None else min(soonest, wait)
                    break
                message = waiting.popleft()
                since.popleft()
                self.pacer.took(sender.user_id, channel)
                await self._post(message, sender)
            if not waiting:
                del self.waiting[channel], self.queued_at[channel]
        return soonest

    async def _post(self, message: Say, sender: Sender) -> None:
        body: dict[str, str] = {
            "broadcaster_id": message.broadcaster_id,
            "sender_id": sender.user_id,
            "message": fit(message.text),
        }
        if message.reply_to:
            body["reply_parent_message_id"] = message.reply_to
        where = {"broadcaster_id": message.broadcaster_id}
        try:
            call = self.twitch.bot_helix if sender.bot else self.twitch.user_helix
            status, answer = await call(message.broadcaster_id, "POST", "chat/messages", json=body)
        except DatabaseClosed:
            raise
        except (ReconsentNeeded, TwitchError, aiohttp.ClientError, TimeoutError) as exc:
            self._outcome(message.broadcaster_id, "error")
            log.warning("a chat answer could not be sent", extra={**where, "error": type(exc).__name__})
            return
        if status != 200:
            self._outcome(message.broadcaster_id, f"error_{status}")
            log.warning("Twitch refused a chat answer", extra={**where, "status": status})
            return
        sent = json_object((answer.get("data") or [{}])[0])
        if sent.get("is_sent") is True:
            self._outcome(message.broadcaster_id, "sent")
            return
        reason = json_object(sent.get("drop_reason")).get("code")
        self._outcome(message.broadcaster_id, "dropped_by_twitch")
        log.warning("Twitch dropped a chat answer", extra={**where, "drop_reason": str(reason or "")[:60]})

    def _outcome(self, channel: str, outcome: str) -> None:
        self._count(outcome)
        self.results.append((channel, outcome))

    def _count(self, outcome: str) -> None:
        metrics.CHAT_MESSAGES.labels(outcome).inc()
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
