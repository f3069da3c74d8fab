"""Per-broadcaster event hub: strictly increasing ids, a replay ring, and fan-out to SSE clients.

Event ids are `<boot>-<seq>`: `seq` increases per broadcaster, `boot` is random per process start, so an
id from before a restart is recognised as stale (→ `state.replace`) instead of silently meaning
something else. Each event is serialised once per audience, not once per client.

A new client gets the handshake here too (`connect`): the retry line, then either the frames it missed
(its Last-Event-ID is still in the ring) or a `state.replace` snapshot, then the events published
meanwhile, then live events. It is registered before the replay range or the snapshot is read, so
nothing published in between is lost, and it only goes live once it has caught up, so nothing comes
twice.

Fan-out writes each new frame to every live client in a plain loop, like the bare
`StreamResponse.write` loop it is measured against: at once, in `publish`, for a broadcaster with a few
streams; in a task of its own, which yields to the event loop between clients and lets a burst of
events share one write, for a broadcaster with many. A write never waits for a client: a
client whose unsent bytes would pass `client_buffer` is dropped (it resumes with Last-Event-ID), and
each transport's high-water mark sits at that limit, so asyncio never pauses a write below it. A single
write larger than `client_buffer` still goes to a client with nothing unsent (its high-water mark is
raised to fit), so one big event never drops every client.

The replay ring is bounded three ways: `ring_max` events and `ring_bytes` per broadcaster (the newest
event is always kept), and `budget_bytes` over all broadcasters together, where the oldest events of
any broadcaster go first. Memory is then bounded whatever the number of tenants; a client whose
Last-Event-ID fell out of the ring gets a `state.replace` snapshot instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from twi_overlay import pacing
from twi_overlay.aio import cancel_and_wait
from twi_overlay.domain.events import Event
from twi_overlay.ops import metrics
from twi_overlay.stream.wire import HEARTBEAT, RETRY, frame, write_now

# Bytes a kept event costs beyond its frames: its ring tuple, two bytes-object headers, the ring and
# budget deque slots and the budget tuple (measured with tracemalloc in bench/tenants.py).
FRAME_OVERHEAD = 200
RingItem = tuple[int, bytes, bytes | None]  # (seq, admin frame, overlay frame or None)


def _cost(item: RingItem) -> int:
    return len(item[1]) + (len(item[2]) if item[2] is not None else 0) + FRAME_OVERHEAD


# Reads the broadcaster's snapshot for a client's audience: (state, the seq of the last event it includes).
Snapshot = Callable[[], Awaitable[tuple[dict[str, Any], int]]]


class Client:
    """One SSE connection. The hub writes to it once it is live; its handler waits on `done`."""

    __slots__ = (
        "broadcaster_id",
        "aud",
        "credential",
        "address",
        "response",
        "transport",
        "cursor",
        "live",
        "done",
        "replayed",
    )

    def __init__(
        self,
        broadcaster_id: str,
        aud: str,
        response: web.StreamResponse,
        transport: asyncio.Transport | None,
        credential: str = "",
        address: str = "",
    ):
        self.broadcaster_id = broadcaster_id
        self.aud = aud
        self.address = address  # the client's, for the per-address cap
        # What opened it, so revoking that ends it: "key:<kid>", "session:<hash>", or "" (an admin token).
        self.credential = credential
        self.response = response
        self.transport = transport
        self.cursor = 0  # last seq this client has been sent
        self.live = False  # False while the handshake sends the snapshot or replay
        self.replayed: int | None = None  # frames replayed at connect; None when it got a snapshot
        self.done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def finish(self, reason: str) -> None:
        if not self.done.done():
            self.done.set_result(reason)


@dataclass
class _Stream:
    seq: int = 0
    ring: deque[RingItem] = field(default_factory=deque)
    ring_bytes: int = 0
    clients: set[Client] = field(default_factory=set)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    heartbeat_due: bool = False
    task: asyncio.Task[None] | None = None  # the fan-out task of a stream with many clients


class Hub:
    def __init__(
        self, ring_max: int, client_buffer: int, ring_bytes: int = 512 * 1024, budget_bytes: int = 64 * 1024 * 1024
    ):
        self.boot = secrets.token_hex(4)
        self.ring_max = ring_max
        self.ring_bytes = ring_bytes
        self.budget_bytes = budget_bytes
        self.client_buffer = client_buffer
        self._streams: dict[str, _Stream] = {}
        self._closed = False
        # Every kept event of every broadcaster, oldest first, for the global budget: (stream, seq).
        # An event already gone from its own ring stays here, stale, until it is reached or compacted.
        self._kept: deque[tuple[_Stream, int]] = deque()
        self._stale = 0
        self.kept_bytes = 0
        self._per_address: dict[str, int] = {}  # open streams by client address

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
        """Keep the events (one commit's, in order) in their rings, then send each broadcaster's new
        frames to its clients. `ts` is one time for all of them: when they reached the hub."""
        ts = time.time()
        touched: dict[str, _Stream] = {}
        for event in events:
            stream = self._stream(event.broadcaster_id)
            stream.seq += 1
            event_id = self.event_id(stream.seq)
            admin = frame(event_id, event.type, event.data, ts)
            overlay = frame(event_id, event.type, event.overlay, ts) if event.overlay is not None else None
            self._keep(stream, (stream.seq, admin, overlay))
            touched[event.broadcaster_id] = stream
        for broadcaster_id, stream in touched.items():
            self._kick(broadcaster_id, stream)

    # -- the replay ring ------------------------------------------------------------------------
    def _keep(self, stream: _Stream, item: RingItem) -> None:
        cost = _cost(item)
        stream.ring.append(item)
        stream.ring_bytes += cost
        self.kept_bytes += cost
        self._kept.append((stream, item[0]))
        while len(stream.ring) > self.ring_max or (stream.ring_bytes > self.ring_bytes and len(stream.ring) > 1):
            self._evict(stream, "count" if len(stream.ring) > self.ring_max else "bytes")
            self._stale += 1
        while self.kept_bytes > self.budget_bytes and self._kept:
            oldest, seq = self._kept.popleft()
            if oldest.ring and oldest.ring[0][0] == seq:
                self._evict(oldest, "budget")
            else:
                self._stale -= 1
        if self._stale > 4096 and self._stale * 2 > len(self._kept):
            self._kept = deque(k for k in self._kept if k[0].ring and k[0].ring[0][0] <= k[1])
            self._stale = 0

    def _evict(self, stream: _Stream, bound: str) -> None:
        cost = _cost(stream.ring.popleft())
        stream.ring_bytes -= cost
        self.kept_bytes -= cost
        metrics.SSE_RING_EVICTED.labels(bound).inc()

    def _kick(self, broadcaster_id: str, stream: _Stream) -> None:
        """Send what is due (new frames, a heartbeat) to the stream's clients. A stream with a few
        clients (a broadcaster's overlays and admin pages) gets it now, in a plain loop: a task per
        stream would cost a turn of the event loop, during which the frames wait behind whatever else
        is ready (with 5,000 broadcasters, the median frame waited 120 µs for that). A stream with
        many has its own task, which yields to the loop between clients and lets bursts share a pass."""
        if not stream.clients or self._closed:
            return
        busy = stream.task is not None and not stream.task.done()
        if not busy and len(stream.clients) <= pacing.FANOUT_INLINE_MAX:
            started = time.perf_counter()
            if self._pass(stream, tuple(stream.clients), *self._due(stream)):
                metrics.SSE_BROADCAST_LATENCY.observe(time.perf_counter() - started)
            return
        stream.wake.set()
        if not busy:
            stream.task = asyncio.get_running_loop().create_task(
                self._fanout(stream), name=f"sse-fanout-{broadcaster_id}"
            )

    def frames_after(self, broadcaster_id: str, aud: str, after_seq: int) -> list[tuple[int, bytes]] | None:
        """Frames after `after_seq` for this audience, or None when the ring no longer has them all."""
        stream = self._stream(broadcaster_id)
        if after_seq >= stream.seq:
            return []
        if not stream.ring or stream.ring[0][0] > after_seq + 1:
            return None
        # Seqs in the ring are contiguous: walk back from the newest end only as far as needed.
        out = []
        for i in range(len(stream.ring) - (stream.seq - after_seq), len(stream.ring)):
            seq, admin, overlay = stream.ring[i]
            data = admin if aud == "admin" else overlay
            if data is not None:
                out.append((seq, data))
        return out

    async def _fanout(self, stream: _Stream) -> None:
        """The fan-out task of a stream with many clients, until it has few again (and nothing due)."""
        yield_every = pacing.FANOUT_YIELD_EVERY
        while not self._closed and (stream.wake.is_set() or len(stream.clients) > pacing.FANOUT_INLINE_MAX):
            await stream.wake.wait()
            stream.wake.clear()
            started = time.perf_counter()
            clients = tuple(stream.clients)
            due = self._due(stream)  # one pass: what was due when it started, for every part of it
            sent = False
            for i in range(0, len(clients), yield_every):
                if i:
                    await asyncio.sleep(0)  # let webhook ACKs and other requests in between
                sent = self._pass(stream, clients[i : i + yield_every], *due) or sent
            took = time.perf_counter() - started
            if sent:
                metrics.SSE_BROADCAST_LATENCY.observe(took)
            await asyncio.sleep(min(took * pacing.FANOUT_REST_FACTOR, pacing.FANOUT_MAX_REST_SECS))

    @staticmethod
    def _due(stream: _Stream) -> tuple[int, bool, dict[tuple[int, str], bytes | None]]:
        """A pass starts: the seq it sends up to, whether it carries the due heartbeat, and the frames
        it joins per (cursor, audience), shared by all its clients."""
        heartbeat, stream.heartbeat_due = stream.heartbeat_due, False
        return stream.seq, heartbeat, {}

    def _pass(
        self,
        stream: _Stream,
        clients: tuple[Client, ...],
        latest: int,
        heartbeat: bool,
        shared: dict[tuple[int, str], bytes | None],
    ) -> bool:
        """Write what each of these clients has not been sent up to `latest` (or the heartbeat); True
        when an event went out."""
        sent = False
        for client in clients:
            if not client.live or client.done.done():
                continue
            if client.cursor < latest:
                # Most clients were sent everything up to the same seq: join the new frames once per audience.
                key = (client.cursor, client.aud)
                data = shared.get(key, b"")
                if data == b"":
                    frames = self.frames_after(client.broadcaster_id, client.aud, client.cursor)
                    if frames is None:  # fell out of the ring: let it resume and get a snapshot
                        self._drop(stream, client, "ring")
                        continue
                    data = shared[key] = b"".join(f for _, f in frames) or None
                client.cursor = latest
                if data is not None:
                    self._send(stream, client, data)
                    sent = True
            elif heartbeat:
                self._send(stream, client, HEARTBEAT)
        return sent

    def _send(self, stream: _Stream, client: Client, data: bytes) -> None:
        transport = client.transport
        if transport is None or transport.is_closing():
            self._remove(stream, client, "disconnected")
            return
        unsent = transport.get_write_buffer_size()
        if unsent + len(data) > self.client_buffer:
            if unsent:
                self._drop(stream, client, "slow")
                return
            # One write larger than the buffer, to a client that has sent everything else: let it
            # through, and lift the high-water mark so that this write does not wait for it either.
            with contextlib.suppress(AttributeError, ValueError):
                transport.set_write_buffer_limits(high=len(data) + self.client_buffer)
        try:
            write_now(client.response, data)  # below the high-water mark: never waits
        except (ConnectionError, RuntimeError):
            self._remove(stream, client, "disconnected")

    def _drop(self, stream: _Stream, client: Client, reason: str) -> None:
        metrics.SSE_DROPPED_CLIENTS.inc()
        self._close(stream, client, f"dropped: {reason}")

    def _close(self, stream: _Stream, client: Client, reason: str) -> None:
        """Ends the connection from our side (the client reconnects) and forgets it."""
        if client.transport is not None:
            client.transport.close()
        self._remove(stream, client, reason)

    def _remove(self, stream: _Stream, client: Client, reason: str) -> None:
        if client in stream.clients:
            stream.clients.discard(client)
            metrics.SSE_CLIENTS.labels(client.aud).dec()
            left = self._per_address.get(client.address, 1) - 1
            if left > 0:
                self._per_address[client.address] = left
            else:
                self._per_address.pop(client.address, None)
        client.finish(reason)

    # -- clients --------------------------------------------------------------------------------
    def subscribe(
        self,
        broadcaster_id: str,
        aud: str,
        response: web.StreamResponse,
        transport: asyncio.Transport | None,
        credential: str = "",
        address: str = "",
    ) -> Client:
        """Registers a client that is not live yet: the handshake sends the snapshot or replay first."""
        client = Client(broadcaster_id, aud, response, transport, credential, address)
        self._per_address[address] = self._per_address.get(address, 0) + 1
        if transport is not None:
            with contextlib.suppress(AttributeError, ValueError):
                transport.set_write_buffer_limits(high=self.client_buffer)
        self._stream(broadcaster_id).clients.add(client)
        metrics.SSE_CLIENTS.labels(aud).inc()
        return client

    async def connect(
        self,
        broadcaster_id: str,
        aud: str,
        response: web.StreamResponse,
        transport: asyncio.Transport | None,
        last_event_id: str | None,
        snapshot: Snapshot,
        credential: str = "",
        address: str = "",
    ) -> Client | None:
        """The handshake on a prepared stream: retry line, replay or snapshot, catch-up, then live.
        None when the client went away meanwhile or fell behind the ring again (it reconnects)."""
        client = self.subscribe(broadcaster_id, aud, response, transport, credential, address)
        try:
            live = await self._handshake(client, last_event_id, snapshot)
        except (ConnectionError, RuntimeError):
            live = False
        except BaseException:
            self.unsubscribe(client)
            raise
        if not live:
            self.unsubscribe(client)
            return None
        return client

    async def _handshake(self, client: Client, last_event_id: str | None, snapshot: Snapshot) -> bool:
        await client.response.write(RETRY)
        replay = None
        seen = None
        if last_event_id:
            seen = self.parse_id(client.broadcaster_id, last_event_id)
            replay = self.frames_after(client.broadcaster_id, client.aud, seen) if seen is not None else None
            if replay is None:
                metrics.SSE_RING_MISS.inc()
        if replay is None:
            state, cursor = await snapshot()
            await client.response.write(frame(self.event_id(cursor), "state.replace", state))
        else:
            if replay:
                await client.response.write(b"".join(f for _, f in replay))
            cursor = replay[-1][0] if replay else (seen or 0)
            client.replayed = len(replay)
        return await self.go_live(client, cursor)

    async def stay(self, client: Client) -> str:
        """Until the client leaves (or is dropped, or the server shuts down); why it ended."""
        try:
            return await client.done
        finally:
            self.unsubscribe(client)

    async def go_live(self, client: Client, cursor: int) -> bool:
        """Send what was published since `cursor` (while the handshake was busy), then hand the client
        to the fan-out. False when the ring no longer reaches back to `cursor`."""
        while True:
            frames = self.frames_after(client.broadcaster_id, client.aud, cursor)
            if frames is None:
                return False
            if not frames:
                client.cursor = max(cursor, self.latest_seq(client.broadcaster_id))
                client.live = True  # no await between the check above and this line: nothing slips by
                return True
            await client.response.write(b"".join(f for _, f in frames))
            cursor = frames[-1][0]

    def unsubscribe(self, client: Client) -> None:
        stream = self._streams.get(client.broadcaster_id)
        if stream is not None:
            self._remove(stream, client, "closed")

    @property
    def broadcasters(self) -> int:
        """Broadcasters the hub keeps a stream state for (how the heartbeats are sliced)."""
        return len(self._streams)

    def heartbeat(self, part: int = 0, parts: int = 1) -> None:
        """`:heartbeat` to the streams of one slice of the broadcasters (all of them by default)."""
        self.heartbeat_to(list(self._streams)[part::parts])

    def heartbeat_to(self, broadcaster_ids: Iterable[str]) -> None:
        """`:heartbeat` to the streams of these broadcasters (one gone meanwhile is skipped)."""
        for broadcaster_id in broadcaster_ids:
            stream = self._streams.get(broadcaster_id)
            if stream is not None and stream.clients:
                stream.heartbeat_due = True
                self._kick(broadcaster_id, stream)

    def broadcaster_ids(self) -> list[str]:
        return list(self._streams)

    def close_streams(self, broadcaster_id: str, which: Callable[[Client], bool]) -> int:
        """Ends the broadcaster's streams that `which` picks (a rotated key, a signed-out session), at
        once; how many. Their pages reconnect, and are refused if what opened them is revoked."""
        stream = self._streams.get(broadcaster_id)
        if stream is None:
            return 0
        closing = [c for c in stream.clients if which(c)]
        for client in closing:
            self._close(stream, client, "revoked")
        return len(closing)

    def streams_of(self, broadcaster_id: str) -> int:
        stream = self._streams.get(broadcaster_id)
        return 0 if stream is None else len(stream.clients)

    def streams_from(self, address: str) -> int:
        return self._per_address.get(address, 0)

    def client_count(self) -> int:
        return sum(len(s.clients) for s in self._streams.values())

    async def close_all(self) -> None:
        self._closed = True
        for stream in self._streams.values():
            for client in tuple(stream.clients):
                self._remove(stream, client, "shutdown")
            await cancel_and_wait(stream.task)
