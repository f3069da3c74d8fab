"""EventSub over a conduit of WebSocket shards (EVENTSUB_TRANSPORT=conduit): no inbound connection.

At start-up we find or create our conduit (app access token), open one WebSocket session per shard and
assign each to its shard (PATCH conduits/shards) as soon as its welcome arrives: Twitch closes a socket
nothing uses within 10 s. Subscriptions name the conduit, not a session (twitch/subscriptions.py), so
they outlive our sessions and our restarts; Twitch keeps a conduit 72 h with every shard down.

Each shard runs one session at a time:
- a notification or revocation goes through the same door as a webhook delivery (ingest/door.py):
  stored under its message id, deduplicated, processed after it is stored, in order;
- keepalive watchdog: nothing from Twitch for the keepalive window plus a grace → a new session;
- `session_reconnect`: connect to the given URL as is, keep reading the old socket until the new
  welcome, assign the shard to the new session, then close the old socket;
- a closed socket (codes 4000-4007 and plain network loss alike) → a new session on the base URL, with
  backoff and jitter when it keeps failing; the close code only changes what the log says;
- `conduit.shard.disabled` about one of our shards → the shard is assigned again, or its socket replaced.
Twitch does not replay what it sent while no shard listened: after every new session (not after a
`session_reconnect`, which loses nothing) the redemption catch-up runs for every broadcaster, since
which shard a channel hashes to is Twitch's business.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from twi_overlay.config import Settings
from twi_overlay.ingest import door
from twi_overlay.ops import metrics
from twi_overlay.twitch.catchup import CatchUpOnRequest
from twi_overlay.twitch.client import Twitch, TwitchError

log = logging.getLogger(__name__)
SHARD_DISABLED = "conduit.shard.disabled"
WELCOME_TIMEOUT = 10.0  # for the connection and its welcome
RETRY_MAX = 120.0
STABLE_SECS = 60.0  # a session that lived this long resets the backoff
QUEUE_FRAMES = 256  # frames read ahead of the database: past this the socket waits (TCP backpressure)
MAX_FRAME = 4 * 1024 * 1024
CLOSE_REASONS = {
    4000: "internal_server_error",
    4001: "client_sent_inbound_traffic",
    4002: "failed_ping_pong",
    4003: "connection_unused",
    4004: "reconnect_grace_expired",
    4005: "network_timeout",
    4006: "network_error",
    4007: "invalid_reconnect_url",
}
CLIENT_BUGS = frozenset({4001, 4003})  # ours to fix: said loudly, retried all the same (never left dead)


async def ensure_conduit(twitch: Twitch, shard_count: int) -> str:
    """Our conduit's id: the first one this client id has (resized to `shard_count` shards: a shard
    nobody serves would lose the channels that hash to it), or a new one, whose subscriptions the
    reconcile then makes at once. One lock per client, so the shard runner and a reconcile never
    create two."""
    async with twitch.conduit_lock:
        if twitch.conduit_id is not None:
            return twitch.conduit_id
        status, body = await twitch.app_helix("GET", "eventsub/conduits")
        if status != 200:
            raise TwitchError(status, str(body.get("message") or "could not list conduits"))
        found = [c for c in body.get("data") or [] if isinstance(c, dict) and isinstance(c.get("id"), str)]
        if found:
            conduit = found[0]
            if int(conduit.get("shard_count") or 0) != shard_count:
                status, body = await twitch.app_helix(
                    "PATCH", "eventsub/conduits", json={"id": conduit["id"], "shard_count": shard_count}
                )
                if status != 200:
                    raise TwitchError(status, str(body.get("message") or "could not resize the conduit"))
            log.info("conduit found", extra={"conduit_id": conduit["id"]})
        else:
            status, body = await twitch.app_helix("POST", "eventsub/conduits", json={"shard_count": shard_count})
            if status != 200 or not body.get("data"):
                raise TwitchError(status, str(body.get("message") or "could not create a conduit"))
            conduit = body["data"][0]
            log.info("conduit created", extra={"conduit_id": conduit["id"], "shard_count": shard_count})
            twitch.reconcile_soon.set()
        twitch.conduit_id = str(conduit["id"])
        return twitch.conduit_id


@dataclass
class Shard:
    id: str
    status: str = "starting"  # starting | connecting | connected | reconnecting | retrying
    session_id: str | None = None
    connected_at: float | None = None  # wall clock, for the admin page
    sessions: int = 0
    last_end: str | None = None  # why the previous session ended
    queue: asyncio.Queue[tuple[_Socket | None, str, Any]] | None = None

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "connected_at": self.connected_at,
            "sessions": self.sessions,
            "last_end": self.last_end,
        }


class _Ended(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Socket:
    """One WebSocket: a task reads it into the shard's queue, so the shard can wait on several sockets
    (the old one and the new one during a `session_reconnect`) and on its own timers at once."""

    queue: asyncio.Queue[tuple[_Socket | None, str, Any]]
    ws: aiohttp.ClientWebSocketResponse | None = None
    last_frame: float = field(default_factory=time.monotonic)
    task: asyncio.Task[None] | None = None

    def open(self, http: aiohttp.ClientSession, url: str) -> _Socket:
        self.task = asyncio.ensure_future(self._pump(http, url))
        return self

    async def _pump(self, http: aiohttp.ClientSession, url: str) -> None:
        try:
            self.ws = await asyncio.wait_for(
                http.ws_connect(url, autoping=True, max_msg_size=MAX_FRAME), WELCOME_TIMEOUT
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            await self.queue.put((self, "failed", type(exc).__name__))
            return
        async for msg in self.ws:
            self.last_frame = time.monotonic()
            if msg.type == aiohttp.WSMsgType.TEXT:
                await self.queue.put((self, "frame", msg.data))
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await self.queue.put((self, "frame", msg.data.decode("utf-8", "replace")))
        await self.queue.put((self, "closed", self.ws.close_code))

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            try:
                await asyncio.wait_for(self.ws.close(), 2.0)
            except (TimeoutError, aiohttp.ClientError, OSError):
                pass
        if self.task is not None and not self.task.done():
            self.task.cancel()


def _reason(kind: str, data: Any) -> str:
    if kind == "failed":
        return "connect_failed"
    return CLOSE_REASONS.get(data, "closed") if isinstance(data, int) else "closed"


class ConduitTransport:
    def __init__(self, settings: Settings, twitch: Twitch, ingress: door.Door, catch_up: CatchUpOnRequest):
        self.settings = settings
        self.twitch = twitch
        self.door = ingress
        self.catch_up = catch_up
        self.catch_ups_requested = 0
        self.shards = [Shard(str(i)) for i in range(settings.conduit_shards)]
        self.keepalive = float(settings.eventsub_ws_keepalive_secs)
        self.down_since: float | None = time.monotonic()  # no shard connected since (monotonic)
        self.http: aiohttp.ClientSession | None = None

    # -- state for /healthz, the admin page and the metrics ----------------------------------------------
    @property
    def window(self) -> float:
        """Silence after which a session counts as lost: the keepalive plus a grace (peers allow 5 s or
        twice the keepalive)."""
        return self.keepalive + min(self.keepalive, 5.0)

    def connected(self) -> int:
        return sum(1 for s in self.shards if s.status in ("connected", "reconnecting"))

    def catch_up_busy(self) -> bool:
        return self.catch_up.busy()

    def down_for(self) -> float:
        return 0.0 if self.down_since is None else time.monotonic() - self.down_since

    def _changed(self) -> None:
        up = self.connected()
        metrics.EVENTSUB_WS_SHARDS.set(up)
        if up and self.down_since is not None:
            self.down_since = None
        elif not up and self.down_since is None:
            self.down_since = time.monotonic()

    def view(self) -> dict[str, Any]:
        return {
            "transport": "conduit",
            "conduit_id": self.twitch.conduit_id,
            "connected_shards": self.connected(),
            "shards": [s.view() for s in self.shards],
        }

    # -- the loop ------------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Supervised by ops.background: find the conduit (retrying while Twitch is away), then keep every
        shard's session open."""
        delay = self.settings.eventsub_ws_retry_secs
        while True:
            try:
                await ensure_conduit(self.twitch, len(self.shards))
                break
            except (TwitchError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("conduit not available yet; retrying", extra={"error": str(exc)[:200]})
                await asyncio.sleep(random.uniform(delay / 2, delay))  # noqa: S311 - jitter, not a secret
                delay = min(delay * 2, RETRY_MAX)
        self.http = aiohttp.ClientSession()
        try:
            await asyncio.gather(*(self._keep(shard) for shard in self.shards))
        finally:
            await self.http.close()
            for shard in self.shards:
                shard.status = "starting"
            self._changed()

    def _url(self) -> str:
        base = self.settings.twitch_eventsub_ws_url
        return (
            f"{base}{'&' if '?' in base else '?'}keepalive_timeout_seconds={self.settings.eventsub_ws_keepalive_secs}"
        )

    async def _keep(self, shard: Shard) -> None:
        failures = 0
        while True:
            started = time.monotonic()
            try:
                reason = await self._session(shard)
            except _Ended as ended:
                reason = ended.reason
            shard.last_end = reason
            shard.status, shard.session_id, shard.connected_at = "retrying", None, None
            self._changed()
            metrics.EVENTSUB_WS_RECONNECTS.labels(reason).inc()
            if reason == "keepalive_timeout":
                metrics.EVENTSUB_WS_KEEPALIVE_TIMEOUTS.inc()
            failures = 0 if time.monotonic() - started >= STABLE_SECS else failures + 1
            ceiling = min(RETRY_MAX, self.settings.eventsub_ws_retry_secs * 2 ** max(0, failures - 1))
            delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret
            level = logging.ERROR if reason in (CLOSE_REASONS[c] for c in CLIENT_BUGS) else logging.WARNING
            log.log(
                level,
                "eventsub session ended; opening a new one",
                extra={"shard": shard.id, "reason": reason, "retry_in_s": round(delay, 2)},
            )
            await asyncio.sleep(delay)

    async def _session(self, shard: Shard) -> str:
        """One session, from connect to its end (returns why it ended), including the `session_reconnect`
        moves that keep it going."""
        assert self.http is not None
        queue: asyncio.Queue[tuple[_Socket | None, str, Any]] = asyncio.Queue(QUEUE_FRAMES)
        shard.queue = queue
        shard.status = "connecting"
        current = _Socket(queue).open(self.http, self._url())
        sockets = [current]
        candidate: _Socket | None = None
        try:
            session = await self._welcome(current, queue)
            await self._assign(shard, session)
            self.catch_ups_requested += 1
            self.catch_up.request()  # whatever was sent while this shard had no session
            while True:
                try:
                    timeout = max(0.05, current.last_frame + self.window - time.monotonic())
                    sock, kind, data = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    if time.monotonic() - current.last_frame >= self.window:
                        return "keepalive_timeout"
                    continue
                if kind == "repair":
                    if data == shard.session_id:
                        return "shard_disabled"  # Twitch no longer sends to this socket: replace it
                    await self._assign(shard, {"id": shard.session_id})
                    continue
                if kind == "frame":
                    frame = self._parse(data)
                    if frame is None:
                        continue
                    meta, payload = frame
                    message_type = meta.get("message_type")
                    if message_type in ("notification", "revocation"):
                        # From whichever socket: the old one delivers until the new welcome.
                        await self._deliver(meta, payload)
                    elif message_type == "session_reconnect" and sock is current and candidate is None:
                        url = (payload.get("session") or {}).get("reconnect_url")
                        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
                            return "invalid_reconnect_url"
                        shard.status = "reconnecting"
                        candidate = _Socket(queue).open(self.http, url)  # the URL as is
                        sockets.append(candidate)
                    elif message_type == "session_welcome" and sock is candidate and candidate is not None:
                        session = payload.get("session") or {}
                        if not isinstance(session.get("id"), str):
                            return "bad_welcome"
                        old, current, candidate = current, candidate, None
                        self._keepalive_from(session)
                        await self._assign(shard, session)  # after every new welcome
                        await old.close()
                        sockets.remove(old)  # a session moved daily for weeks keeps no trail of dead sockets
                        metrics.EVENTSUB_WS_RECONNECTS.labels("session_reconnect").inc()
                        log.info("eventsub session moved", extra={"shard": shard.id})
                    continue
                # "closed" or "failed"
                if sock is candidate:
                    return "reconnect_failed" if kind == "failed" else _reason(kind, data)
                if sock is current and candidate is None:
                    return _reason(kind, data)
                # the old socket ending during a move, or after it: the new one carries on
        finally:
            shard.queue = None
            for sock in sockets:
                await sock.close()

    async def _welcome(self, sock: _Socket, queue: asyncio.Queue[tuple[_Socket | None, str, Any]]) -> dict[str, Any]:
        try:
            async with asyncio.timeout(WELCOME_TIMEOUT):
                while True:
                    got, kind, data = await queue.get()
                    if got is not sock:
                        continue
                    if kind != "frame":
                        raise _Ended(_reason(kind, data))
                    frame = self._parse(data)
                    if frame is not None and frame[0].get("message_type") == "session_welcome":
                        session = frame[1].get("session") or {}
                        if isinstance(session.get("id"), str):
                            self._keepalive_from(session)
                            return session
        except TimeoutError:
            raise _Ended("welcome_timeout") from None

    def _keepalive_from(self, session: dict[str, Any]) -> None:
        keepalive = session.get("keepalive_timeout_seconds")
        if isinstance(keepalive, int | float) and keepalive > 0:
            self.keepalive = float(keepalive)

    async def _assign(self, shard: Shard, session: dict[str, Any]) -> None:
        """PATCH the shard to this session (within 10 s of its welcome, or Twitch closes the socket)."""
        conduit_id = await ensure_conduit(self.twitch, len(self.shards))
        body = {
            "conduit_id": conduit_id,
            "shards": [{"id": shard.id, "transport": {"method": "websocket", "session_id": session["id"]}}],
        }
        try:
            status, answer = await self.twitch.app_helix("PATCH", "eventsub/conduits/shards", json=body)
        except (TwitchError, aiohttp.ClientError, TimeoutError) as exc:
            raise _Ended("assign_failed") from exc
        errors = answer.get("errors") or []
        if status == 404:
            self.twitch.conduit_id = None  # deleted (72 h with no shard, or by hand): find or create again
            raise _Ended("conduit_missing")
        if status != 202 or errors:
            log.warning(
                "assigning a shard failed",
                extra={"shard": shard.id, "status": status, "error": str(errors or answer.get("message"))[:200]},
            )
            raise _Ended("assign_failed")
        shard.session_id = session["id"]
        shard.status = "connected"
        shard.connected_at = time.time()
        shard.sessions += 1
        self._changed()

    def _parse(self, data: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        try:
            frame = orjson.loads(data)
        except orjson.JSONDecodeError:
            log.warning("eventsub frame is not JSON; ignored")
            return None
        meta = frame.get("metadata") if isinstance(frame, dict) else None
        payload = frame.get("payload") if isinstance(frame, dict) else None
        if not isinstance(meta, dict) or not isinstance(payload, dict):
            log.warning("eventsub frame without metadata or payload; ignored")
            return None
        return meta, payload

    async def _deliver(self, meta: dict[str, Any], payload: dict[str, Any]) -> None:
        sub = payload.get("subscription")
        message_id, message_type = meta.get("message_id"), meta.get("message_type")
        if not isinstance(message_id, str) or not message_id or not isinstance(sub, dict):
            log.warning("eventsub message without an id or a subscription; ignored")
            return
        sub_type = meta.get("subscription_type") or sub.get("type") or ""
        if sub_type == SHARD_DISABLED and message_type == "notification":
            self._shard_disabled(payload.get("event"))
            return
        if message_type == "notification" and not isinstance(payload.get("event"), dict):
            log.warning("eventsub notification without an event; ignored", extra={"subscription_type": sub_type})
            return
        await self.door.accept(message_id, str(message_type), str(sub_type), payload, "conduit")

    def _shard_disabled(self, event: Any) -> None:
        if not isinstance(event, dict) or event.get("conduit_id") != self.twitch.conduit_id:
            return
        found = event.get("transport")
        transport: dict[str, Any] = found if isinstance(found, dict) else {}
        log.warning(
            "twitch disabled a shard", extra={"shard": str(event.get("shard_id")), "status": event.get("status")}
        )
        for shard in self.shards:
            if shard.id == str(event.get("shard_id")) and shard.queue is not None:
                try:
                    shard.queue.put_nowait((None, "repair", transport.get("session_id")))
                except asyncio.QueueFull:
                    pass  # that shard is busy reading: it is alive, and the next notice comes again
