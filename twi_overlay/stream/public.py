"""The `public` audience of the public queue page (`/q/<login>`, routes in web/public.py): the queue as
viewers may see it, live, for anyone, while the streamer has switched it on (`public_page.enabled`).

Viewers get the `public` audience: a snapshot of the queue with each entry's position, display name,
whether it is being played, and its note only with `public_page.show_notes`. No ids, no logins, no
reward or Twitch state: nothing the overlay does not show. Each change sends a fresh snapshot rather
than a delta (deltas need ids); snapshots are sent at most every PUBLIC_MIN_INTERVAL_SECS per channel,
so a burst of redemptions costs viewers one frame, and a queue is at most 1,000 entries.

Open streams count against SSE_MAX_STREAMS_PER_CLIENT like the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from twi_overlay import repo
from twi_overlay.domain.settings import with_defaults
from twi_overlay.ops import metrics
from twi_overlay.store.database import Database
from twi_overlay.store.tx import Tx
from twi_overlay.stream import wire
from twi_overlay.web.errors import ApiError
from twi_overlay.web.ratelimit import RateLimiter

log = logging.getLogger(__name__)
PUBLIC_MIN_INTERVAL_SECS = 0.5
PUBLIC_BUFFER_BYTES = 256 * 1024  # a viewer this far behind is dropped (its page reconnects)


def _settings(tx: Tx, broadcaster_id: str) -> dict[str, Any]:
    stored = repo.settings.get(tx, broadcaster_id)
    return with_defaults(stored.doc if stored is not None else {})


def public_page_on(tx: Tx, broadcaster_id: str) -> bool:
    return bool(_settings(tx, broadcaster_id)["public_page"]["enabled"])


def public_snapshot(tx: Tx, broadcaster_id: str) -> dict[str, Any] | None:
    """What viewers may see of the queue, or None while the page is off."""
    doc = _settings(tx, broadcaster_id)
    page = doc["public_page"]
    if not page["enabled"]:
        return None
    b = repo.broadcasters.get(tx, broadcaster_id)
    entries = []
    for e in repo.queue.active(tx, broadcaster_id):
        shown: dict[str, Any] = {"position": e.position, "name": e.user_name, "playing": e.status == "picked"}
        if page["show_notes"] and e.user_input:
            shown["note"] = e.user_input
        entries.append(shown)
    return {
        "channel": b.display_name if b else "",
        "open": bool(doc["queue"]["open"]),
        "entries": entries,
        "at": time.time(),
    }


OFF = b"event: public.off\ndata: {}\n\n"


def _frame(snapshot: dict[str, Any]) -> bytes:
    return b"event: public.queue\ndata: %s\n\n" % orjson.dumps(snapshot)


@dataclass
class _Viewer:
    transport: asyncio.BaseTransport
    done: asyncio.Future[None]
    ready: bool = False  # its first snapshot is written: the feed may write to it


@dataclass
class _Channel:
    streams: dict[web.StreamResponse, _Viewer] = field(default_factory=dict)
    dirty: asyncio.Event = field(default_factory=asyncio.Event)
    changed: int = 0  # changes notified so far
    task: asyncio.Task[None] | None = None


class PublicFeeds:
    """The viewers' streams per broadcaster, refreshed after each change to the queue or settings."""

    def __init__(self) -> None:
        self.db: Database | None = None  # set once the database is open (app.py)
        self.channels: dict[str, _Channel] = {}
        self.per_address: dict[str, int] = {}
        self.limiter = RateLimiter(rate_per_sec=2, burst=10)

    def notify(self, events: Iterable[Any]) -> None:
        """After each commit: the channels whose queue or settings changed get a fresh snapshot soon."""
        for event in events:
            channel = self.channels.get(event.broadcaster_id)
            if channel is not None and event.type.startswith(("queue.", "settings.")):
                channel.changed += 1
                channel.dirty.set()

    async def _refresh(self, broadcaster_id: str, channel: _Channel) -> None:
        while channel.streams:
            await channel.dirty.wait()
            channel.dirty.clear()
            try:
                assert self.db is not None
                snapshot = await self.db.read(public_snapshot, broadcaster_id)
            except Exception:
                log.exception("public snapshot failed; the next change tries again")
                continue
            if snapshot is None:  # switched off: the pages say so and stop (a reconnect would get 404)
                await self.send(channel, OFF)
                for response in list(channel.streams):
                    self._end(channel, response)
                return
            await self.send(channel, _frame(snapshot))
            await asyncio.sleep(PUBLIC_MIN_INTERVAL_SECS)  # later changes gather into one snapshot

    async def send(self, channel: _Channel, data: bytes) -> None:
        for response, viewer in list(channel.streams.items()):
            transport = viewer.transport
            if not viewer.ready:
                continue  # its own first snapshot is on its way, read after this one
            if transport.is_closing():
                self._end(channel, response)
            elif transport.get_write_buffer_size() + len(data) > PUBLIC_BUFFER_BYTES:  # type: ignore[attr-defined]
                self._end(channel, response)  # too far behind: its page reconnects and starts afresh
            else:
                try:
                    await response.write(data)  # below the buffer's high-water mark: never waits
                except (ConnectionError, RuntimeError):
                    self._end(channel, response)

    def _end(self, channel: _Channel, response: web.StreamResponse) -> None:
        viewer = channel.streams.pop(response, None)
        if viewer is not None:
            viewer.transport.close()
            if not viewer.done.done():
                viewer.done.set_result(None)

    async def heartbeat(self) -> None:
        for channel in list(self.channels.values()):
            await self.send(channel, wire.HEARTBEAT)

    def close_all(self) -> None:
        for channel in self.channels.values():
            for response in list(channel.streams):
                self._end(channel, response)

    def streams(self) -> int:
        return sum(len(c.streams) for c in self.channels.values())

    async def serve(
        self, request: web.Request, broadcaster_id: str, address: str, max_per_address: int
    ) -> web.StreamResponse:
        assert self.db is not None
        if self.per_address.get(address, 0) >= max_per_address:
            raise ApiError(429, "too_many_streams", "too many open streams from this address", {"Retry-After": "5"})
        if not await self.db.read(public_page_on, broadcaster_id):
            raise ApiError(404, "not_found", f"no route for {request.path}")
        transport = request.transport
        if transport is None:
            raise ApiError(400, "invalid_request", "the connection is gone")
        response = await wire.open_stream(request)
        self.per_address[address] = self.per_address.get(address, 0) + 1
        metrics.SSE_CLIENTS.labels("public").inc()
        # Joined with no await in between, so the last viewer leaving meanwhile cannot drop the channel
        # this one joins (notify() would no longer find it).
        channel = self.channels.setdefault(broadcaster_id, _Channel())
        viewer = _Viewer(transport, asyncio.get_running_loop().create_future())
        channel.streams[response] = viewer
        if channel.task is None or channel.task.done():
            channel.task = asyncio.ensure_future(self._refresh(broadcaster_id, channel))
        try:
            # Its first snapshot is read after it joined, so no change can fall between the two; the
            # feed leaves it alone until that is written (an older frame never follows a newer one).
            seen = -1
            while seen != channel.changed:
                seen = channel.changed
                snapshot = await self.db.read(public_snapshot, broadcaster_id)
                if snapshot is None:
                    return response
                await response.write((wire.RETRY if not viewer.ready else b"") + _frame(snapshot))
                viewer.ready = True
            # The feed writes; this handler only holds the request open until the feed ends it (switched
            # off, too far behind, gone at the next heartbeat or snapshot, or the server stopping).
            await viewer.done
        except (ConnectionError, RuntimeError):
            pass
        finally:
            channel.streams.pop(response, None)
            metrics.SSE_CLIENTS.labels("public").dec()
            left = self.per_address.get(address, 1) - 1
            if left > 0:
                self.per_address[address] = left
            else:
                self.per_address.pop(address, None)
            if not channel.streams and self.channels.get(broadcaster_id) is channel:
                del self.channels[broadcaster_id]
                if channel.task is not None:
                    channel.task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await channel.task
        return response
