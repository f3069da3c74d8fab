"""The tap (`/_debug/tap`): every pipeline stage reports `{stage, type, broadcaster_id, message_id, ok, ms}`.

Recording costs almost nothing when nobody listens; listeners get a bounded buffer and are dropped
when they fall behind, like SSE clients.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from twi_overlay.stream import wire


class TapListener:
    __slots__ = ("pending", "wake", "dropped", "broadcaster_id")

    def __init__(self, broadcaster_id: str | None = None) -> None:
        self.pending: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.dropped = False
        self.broadcaster_id = broadcaster_id  # only this broadcaster's records; None: everyone's (operators)


class Tap:
    def __init__(self, buffer: int = 1000):
        self.buffer = buffer
        self.listeners: set[TapListener] = set()

    def record(
        self,
        stage: str,
        type_: str | None = None,
        broadcaster_id: str | None = None,
        message_id: str | None = None,
        ok: bool = True,
        ms: float | None = None,
        **extra: Any,
    ) -> None:
        if not self.listeners:
            return
        item = {
            "ts": time.time(),
            "stage": stage,
            "type": type_,
            "broadcaster_id": broadcaster_id,
            "message_id": message_id,
            "ok": ok,
            "ms": None if ms is None else round(ms, 3),
            **extra,
        }
        data = wire.event_frame("tap", item)
        for listener in tuple(self.listeners):
            if listener.broadcaster_id is not None and listener.broadcaster_id != broadcaster_id:
                continue
            if len(listener.pending) >= self.buffer:
                listener.dropped = True
                self.listeners.discard(listener)
            else:
                listener.pending.append(data)
            listener.wake.set()

    def listen(self, broadcaster_id: str | None = None) -> TapListener:
        listener = TapListener(broadcaster_id)
        self.listeners.add(listener)
        return listener

    def forget(self, listener: TapListener) -> None:
        self.listeners.discard(listener)

    def heartbeat(self) -> None:
        for listener in tuple(self.listeners):
            listener.pending.append(wire.HEARTBEAT)
            listener.wake.set()

    def close_all(self) -> None:
        for listener in tuple(self.listeners):
            listener.dropped = True
            listener.wake.set()
        self.listeners.clear()
