"""Per-broadcaster event hub: strictly increasing ids, a replay ring, and bounded fan-out to SSE clients.

Event ids are `<boot>-<seq>`: `seq` increases per broadcaster, `boot` is random per process start, so an
id from before a restart is recognised as stale (→ `state.replace`) instead of silently meaning
something else. Each event is serialised once per audience, not once per client.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from twi_overlay import metrics
from twi_overlay.domain.events import Event

HEARTBEAT = b":heartbeat\n\n"
AUDIENCES = ("overlay", "admin")


def frame(event_id: str, type_: str, data: Any, ts: float | None = None) -> bytes:
    body = orjson.dumps({"type": type_, "ts": ts if ts is not None else time.time(), "data": data})
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (event_id.encode(), type_.encode(), body)


class Client:
    """One SSE connection's mailbox. The hub appends; the connection's handler drains and writes."""

    __slots__ = ("broadcaster_id", "aud", "pending", "limit", "wake", "dropped", "closed")

    def __init__(self, broadcaster_id: str, aud: str, limit: int):
        self.broadcaster_id = broadcaster_id
        self.aud = aud
        self.pending: deque[tuple[int, bytes]] = deque()
        self.limit = limit
        self.wake = asyncio.Event()
        self.dropped = False
        self.closed = False

    def push(self, seq: int, data: bytes) -> bool:
        if len(self.pending) >= self.limit:
            self.dropped = True
            self.wake.set()
            return False
        self.pending.append((seq, data))
        self.wake.set()
        return True

    def close(self) -> None:
        self.closed = True
        self.wake.set()


@dataclass
class _Stream:
    seq: int = 0
    ring: deque[tuple[int, bytes, bytes | None]] = field(default_factory=deque)
    clients: set[Client] = field(default_factory=set)


class Hub:
    def __init__(self, ring_max: int = 1000, client_buffer: int = 256):
        self.boot = secrets.token_hex(4)
        self.ring_max = ring_max
        self.client_buffer = client_buffer
        self._streams: dict[str, _Stream] = {}
        self._listeners: list[Any] = []

    def _stream(self, broadcaster_id: str) -> _Stream:
        stream = self._streams.get(broadcaster_id)
        if stream is None:
            stream = self._streams[broadcaster_id] = _Stream()
        return stream

    # -- ids ------------------------------------------------------------------------------------
    def event_id(self, seq: int) -> str:
        return f"{self.boot}-{seq}"

    def parse_id(self, broadcaster_id: str, last_event_id: str) -> int | None:
        """The seq a client has seen, or None when the id is stale, foreign or malformed."""
        boot, _, seq_s = last_event_id.strip().partition("-")
        if boot != self.boot or not seq_s.isdigit():
            return None
        seq = int(seq_s)
        return seq if seq <= self._stream(broadcaster_id).seq else None

    def latest_seq(self, broadcaster_id: str) -> int:
        return self._stream(broadcaster_id).seq

    # -- publishing -----------------------------------------------------------------------------
    def publish(self, events: list[Event]) -> None:
        started = time.perf_counter()
        for event in events:
            stream = self._stream(event.broadcaster_id)
            stream.seq += 1
            seq = stream.seq
            event_id = self.event_id(seq)
            ts = time.time()
            admin = frame(event_id, event.type, event.data, ts)
            overlay = frame(event_id, event.type, event.overlay, ts) if event.overlay is not None else None
            stream.ring.append((seq, admin, overlay))
            if len(stream.ring) > self.ring_max:
                stream.ring.popleft()
            for client in tuple(stream.clients):
                data = admin if client.aud == "admin" else overlay
                if data is not None and not client.push(seq, data):
                    self.unsubscribe(client)
                    metrics.SSE_DROPPED_CLIENTS.inc()
            for listener in self._listeners:
                listener(event, seq)
        metrics.SSE_BROADCAST_LATENCY.observe(time.perf_counter() - started)

    def add_listener(self, listener: Any) -> None:
        self._listeners.append(listener)

    # -- clients --------------------------------------------------------------------------------
    def subscribe(self, broadcaster_id: str, aud: str) -> Client:
        client = Client(broadcaster_id, aud, self.client_buffer)
        self._stream(broadcaster_id).clients.add(client)
        metrics.SSE_CLIENTS.labels(aud).inc()
        return client

    def unsubscribe(self, client: Client) -> None:
        stream = self._streams.get(client.broadcaster_id)
        if stream is not None and client in stream.clients:
            stream.clients.discard(client)
            metrics.SSE_CLIENTS.labels(client.aud).dec()

    def replay(self, broadcaster_id: str, aud: str, after_seq: int) -> list[tuple[int, bytes]] | None:
        """Frames after `after_seq` for this audience, or None when the ring no longer has them all."""
        stream = self._stream(broadcaster_id)
        if after_seq == stream.seq:
            return []
        if not stream.ring or stream.ring[0][0] > after_seq + 1:
            return None
        out = []
        for seq, admin, overlay in stream.ring:
            if seq > after_seq:
                data = admin if aud == "admin" else overlay
                if data is not None:
                    out.append((seq, data))
        return out

    def heartbeat(self) -> None:
        for stream in self._streams.values():
            for client in tuple(stream.clients):
                if not client.pending:
                    client.push(0, HEARTBEAT)

    def client_count(self) -> int:
        return sum(len(s.clients) for s in self._streams.values())

    def close_all(self) -> None:
        for stream in self._streams.values():
            for client in tuple(stream.clients):
                client.close()
                self.unsubscribe(client)
