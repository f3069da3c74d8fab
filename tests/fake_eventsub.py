"""A local fake of Twitch's EventSub WebSocket server and conduits, mounted on the fake Twitch.

It does what Twitch documents (and what a faithful fake must reproduce): the welcome at once, keepalives
after N idle seconds reset by notifications, Pings with 4002 when no Pong comes back, 4001 on any client
data frame, 4003 for a socket nothing uses within the deadline, `session_reconnect` with the old socket
delivering until the new welcome and 4004 when it is still open after the grace time, 4007 for a bad
reconnect URL, closes 4000-4007 on demand, a dropped socket disabling its subscriptions and its shard,
the Helix conduit and shard calls, routing by a hash of the channel id with one fallback shard and then
a drop, `conduit.shard.disabled`, duplicates (the same message id twice, one event under two ids) and
revocation frames.

Test knobs, not Twitch's: `keepalive_override` (Twitch's minimum is 10 s), `deadline`, `ping_every`,
`pong_within`, `reconnect_grace` and `keepalives` (off: silence, to trip a client's watchdog)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

if TYPE_CHECKING:
    from tests.fake_twitch import FakeTwitch, Token

MAX_CONDUITS = 5
MAX_WS_PER_USER = 3
MAX_SUBS_PER_SESSION = 300
MAX_WS_COST = 10
SHARD_DISABLED = "conduit.shard.disabled"


def now_rfc3339() -> str:
    t = time.time()
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(t % 1 * 1e9):09d}Z"


def _error(status: int, message: str) -> web.Response:
    reasons = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 409: "Conflict", 429: "Too Many Requests"}
    return web.json_response(
        {"error": reasons.get(status, "Error"), "status": status, "message": message}, status=status
    )


@dataclass
class Session:
    id: str
    ws: web.WebSocketResponse
    keepalive: int
    connected_at: str
    status: str = "connected"  # connected | reconnecting | closed
    last_sent: float = field(default_factory=time.monotonic)
    pong: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    moved_to: str | None = None  # a session_reconnect whose new socket has been welcomed
    close_code: int | None = None
    received: list[dict[str, Any]] = field(default_factory=list)  # every frame sent, for assertions


@dataclass
class Conduit:
    id: str
    client_id: str
    shards: list[dict[str, Any]]


@dataclass
class FakeEventSub:
    twitch: FakeTwitch
    keepalive_override: int | None = None
    deadline: float = 10.0  # subscribe (or be assigned to a shard) within this long after the welcome
    ping_every: float = 5.0
    pong_within: float = 10.0
    reconnect_grace: float = 30.0
    keepalives: bool = True
    sessions: dict[str, Session] = field(default_factory=dict)
    conduits: dict[str, Conduit] = field(default_factory=dict)
    reconnects: dict[str, str] = field(default_factory=dict)  # reconnect id -> old session id
    dropped: list[dict[str, Any]] = field(default_factory=list)  # notifications no shard could take
    delivered: list[dict[str, Any]] = field(default_factory=list)  # (message id, session id, type)
    welcomed: asyncio.Condition = field(default_factory=asyncio.Condition)
    patches: list[dict[str, Any]] = field(default_factory=list)  # PATCH conduits/shards bodies
    twitch_base: str = "ws://127.0.0.1:0"  # where reconnect URLs point: set once the fake listens
    refuse: bool = False  # new sockets are refused (Twitch unreachable)
    refused_at: list[float] = field(default_factory=list)  # monotonic time of each refused socket

    # -- the socket ----------------------------------------------------------------------------------
    async def ws_handler(self, request: web.Request) -> web.StreamResponse:
        if self.refuse:
            self.refused_at.append(time.monotonic())
            return web.Response(status=503, text="unavailable")
        ws = web.WebSocketResponse(autoping=False, max_msg_size=0)
        await ws.prepare(request)
        old_id = None
        if "reconnect_id" in request.query:
            old_id = self.reconnects.pop(request.query["reconnect_id"], None)
            if old_id is None or self.sessions[old_id].status != "reconnecting":
                await ws.close(code=4007, message=b"Invalid reconnect")
                return ws
        try:
            asked = int(request.query.get("keepalive_timeout_seconds", "10"))
        except ValueError:
            return await self._close_now(ws, 4000)
        keepalive = self.keepalive_override or min(600, max(10, asked))
        session = Session(f"fake_{uuid.uuid4().hex[:20]}", ws, keepalive, now_rfc3339())
        self.sessions[session.id] = session
        await self._send(
            session,
            "session_welcome",
            {
                "session": {
                    "id": session.id,
                    "status": "connected",
                    "connected_at": session.connected_at,
                    "keepalive_timeout_seconds": keepalive,
                    "reconnect_url": None,
                    "recovery_url": None,
                }
            },
        )
        if old_id is not None:
            self._move(self.sessions[old_id], session)
        async with self.welcomed:
            self.welcomed.notify_all()
        session.tasks = [
            asyncio.ensure_future(self._keepalive_loop(session)),
            asyncio.ensure_future(self._ping_loop(session)),
            asyncio.ensure_future(self._deadline(session)),
        ]
        try:
            async for msg in ws:
                if msg.type == WSMsgType.PONG:
                    session.pong.set()
                elif msg.type == WSMsgType.PING:
                    await ws.pong(msg.data)
                elif msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self.close(session.id, 4001)  # "Client sent inbound traffic"
                    break
        finally:
            for task in session.tasks:
                task.cancel()
            self._closed(session)
        return ws

    async def _close_now(self, ws: web.WebSocketResponse, code: int) -> web.WebSocketResponse:
        await ws.close(code=code)
        return ws

    async def _send(self, session: Session, message_type: str, payload: dict[str, Any], **meta: str) -> str:
        message_id = meta.pop("message_id", None) or str(uuid.uuid4())
        frame = {
            "metadata": {
                "message_id": message_id,
                "message_type": message_type,
                "message_timestamp": now_rfc3339(),
                **meta,
            },
            "payload": payload,
        }
        session.received.append(frame)
        await session.ws.send_str(orjson.dumps(frame).decode())
        if message_type in ("notification", "session_keepalive", "session_welcome"):
            session.last_sent = time.monotonic()
        return message_id

    async def _keepalive_loop(self, session: Session) -> None:
        while True:
            wait = session.last_sent + session.keepalive - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            if self.keepalives:
                await self._send(session, "session_keepalive", {})
            else:
                session.last_sent = time.monotonic()  # silent: nothing for the client to see

    async def _ping_loop(self, session: Session) -> None:
        while True:
            await asyncio.sleep(self.ping_every)
            session.pong.clear()
            await session.ws.ping()
            try:
                await asyncio.wait_for(session.pong.wait(), self.pong_within)
            except TimeoutError:
                await self.close(session.id, 4002)  # "Client failed ping-pong"
                return

    async def _deadline(self, session: Session) -> None:
        await asyncio.sleep(self.deadline)
        if not self._used(session.id):
            await self.close(session.id, 4003)  # "Connection unused"

    def _used(self, session_id: str) -> bool:
        return any(
            s["transport"].get("session_id") == session_id and s["status"] == "enabled"
            for s in self.twitch.subscriptions.values()
        ) or any(sh["transport"].get("session_id") == session_id for c in self.conduits.values() for sh in c.shards)

    def _move(self, old: Session, new: Session) -> None:
        """The new socket's welcome is out: the old one's subscriptions and shard now point at it."""
        old.moved_to = new.id
        for sub in self.twitch.subscriptions.values():
            if sub["transport"].get("session_id") == old.id:
                sub["transport"]["session_id"] = new.id
                sub["status"] = "enabled"
        for shard in self._shards_of(old.id):
            shard["transport"]["session_id"] = new.id
            shard["transport"]["connected_at"] = new.connected_at
            shard["status"] = "enabled"

    def _shards_of(self, session_id: str) -> list[dict[str, Any]]:
        return [
            sh for c in self.conduits.values() for sh in c.shards if sh["transport"].get("session_id") == session_id
        ]

    def _closed(self, session: Session) -> None:
        if session.status == "closed":
            return
        session.status = "closed"
        if session.moved_to is not None:
            return  # a completed reconnect: its subscriptions live on in the new session
        at = now_rfc3339()
        for sub in self.twitch.subscriptions.values():
            if sub["transport"].get("session_id") == session.id and sub["status"] == "enabled":
                sub["status"] = "websocket_disconnected"
                sub["transport"]["disconnected_at"] = at
        for conduit in self.conduits.values():
            for shard in conduit.shards:
                if shard["transport"].get("session_id") == session.id and shard["status"] == "enabled":
                    shard["status"] = "websocket_disconnected"
                    shard["transport"]["disconnected_at"] = at
                    asyncio.ensure_future(self._shard_disabled(conduit, shard))

    async def _shard_disabled(self, conduit: Conduit, shard: dict[str, Any]) -> None:
        event = {
            "conduit_id": conduit.id,
            "shard_id": shard["id"],
            "status": shard["status"],
            "transport": dict(shard["transport"]),
        }
        for sub in list(self.twitch.subscriptions.values()):
            cond = sub["condition"]
            if (
                sub["type"] == SHARD_DISABLED
                and sub["status"] == "enabled"
                and cond.get("client_id") == conduit.client_id
                and cond.get("conduit_id", conduit.id) == conduit.id
            ):
                try:
                    await self._route(sub, event, conduit.id)
                except ConnectionError:
                    self.dropped.append({"type": sub["type"], "event": event})  # that socket was closing too

    # -- test controls -------------------------------------------------------------------------------
    def live(self) -> list[Session]:
        return [s for s in self.sessions.values() if s.status != "closed"]

    async def wait_sessions(self, n: int, assigned: bool = True, timeout: float = 10.0) -> list[Session]:
        """Until n sockets are open (and, with `assigned`, each on an enabled shard)."""

        def ready() -> bool:
            found = [s for s in self.live() if s.moved_to is None]
            return len(found) >= n and (not assigned or all(self._shards_of(s.id) for s in found))

        async with asyncio.timeout(timeout):
            while not ready():
                async with self.welcomed:
                    try:
                        await asyncio.wait_for(self.welcomed.wait(), 0.05)
                    except TimeoutError:
                        pass
        return [s for s in self.live() if s.moved_to is None]

    async def close(self, session_id: str, code: int) -> None:
        session = self.sessions[session_id]
        session.close_code = code
        await session.ws.close(code=code)
        self._closed(session)

    async def drop(self, session_id: str) -> None:
        """The socket dies with no close frame (a network cut)."""
        session = self.sessions[session_id]
        transport = session.ws._writer.transport if session.ws._writer else None  # noqa: SLF001
        if transport is not None:
            transport.abort()
        self._closed(session)

    async def reconnect(self, session_id: str, url: str | None = None) -> str:
        """Twitch's edge swap: `session_reconnect` now, 4004 if the old socket is still open after the grace."""
        session = self.sessions[session_id]
        session.status = "reconnecting"
        rid = base64.urlsafe_b64encode(session.id.encode()).decode().rstrip("=")
        self.reconnects[rid] = session.id
        base = url or f"{self.twitch_base}/ws?reconnect_id={rid}"
        await self._send(
            session,
            "session_reconnect",
            {
                "session": {
                    "id": session.id,
                    "status": "reconnecting",
                    "keepalive_timeout_seconds": None,
                    "reconnect_url": base,
                    "connected_at": session.connected_at,
                }
            },
        )
        session.tasks.append(asyncio.ensure_future(self._grace(session)))
        return base

    async def _grace(self, session: Session) -> None:
        await asyncio.sleep(self.reconnect_grace)
        if session.status != "closed":
            await self.close(session.id, 4004)

    @property
    def refused(self) -> int:
        return len(self.refused_at)

    def home_shard(self, channel: str) -> int:
        """The shard a channel's notifications go to first in the first conduit: a hash of its id."""
        conduit = next(iter(self.conduits.values()))
        return int(hashlib.sha256(channel.encode()).hexdigest(), 16) % len(conduit.shards)

    def shard_of(self, session_id: str) -> int | None:
        found = self._shards_of(session_id)
        return int(found[0]["id"]) if found else None

    async def disable_shard(self, index: int) -> None:
        """Twitch gives up on a shard whose socket it still holds: the shard is disabled and
        `conduit.shard.disabled` goes out (through another shard)."""
        conduit = next(iter(self.conduits.values()))
        shard = conduit.shards[index]
        shard["status"] = "websocket_disconnected"
        shard["transport"]["disconnected_at"] = now_rfc3339()
        await self._shard_disabled(conduit, shard)

    # -- deliveries ----------------------------------------------------------------------------------
    async def notify(
        self,
        sub_type: str,
        broadcaster_id: str,
        event: dict[str, Any],
        message_id: str | None = None,
        copies: int = 1,
    ) -> list[str]:
        """Deliver an event to every enabled subscription of that type and broadcaster; `copies` > 1 sends
        the same message id again (Twitch's at-least-once). Returns the message ids sent."""
        sent = []
        for sub in list(self.twitch.subscriptions.values()):
            if (
                sub["type"] == sub_type
                and sub["status"] == "enabled"
                and sub["condition"].get("broadcaster_user_id") == broadcaster_id
                and sub["transport"]["method"] in ("websocket", "conduit")
            ):
                mid = message_id or str(uuid.uuid4())
                for _ in range(copies):
                    if await self._route(sub, event, broadcaster_id, mid):
                        sent.append(mid)
        return sent

    async def revoke(self, sub_id: str, status: str = "authorization_revoked") -> None:
        sub = self.twitch.subscriptions[sub_id]
        sub["status"] = status
        session = self._session_for(sub, sub["condition"].get("broadcaster_user_id", ""))
        if session is not None:
            await self._send(
                session,
                "revocation",
                {"subscription": self._public(sub)},
                subscription_type=sub["type"],
                subscription_version=sub["version"],
            )

    def _public(self, sub: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in sub.items() if not k.startswith("_")}

    def _session_for(self, sub: dict[str, Any], channel: str) -> Session | None:
        transport = sub["transport"]
        if transport["method"] == "websocket":
            session = self.sessions.get(transport["session_id"])
            return session if session is not None and session.status != "closed" else None
        conduit = self.conduits.get(transport["conduit_id"])
        if conduit is None or not conduit.shards:
            return None
        # Routing by a hash of the channel id; a disabled shard gets one other try, then the event drops.
        first = int(hashlib.sha256(channel.encode()).hexdigest(), 16) % len(conduit.shards)
        for index in (first, (first + 1) % len(conduit.shards)):
            shard = conduit.shards[index]
            session = self.sessions.get(shard["transport"].get("session_id", ""))
            if shard["status"] == "enabled" and session is not None and session.status != "closed":
                # A reconnecting socket keeps delivering until its successor's welcome.
                return session
        return None

    async def _route(self, sub: dict[str, Any], event: dict[str, Any], channel: str, mid: str | None = None) -> bool:
        session = self._session_for(sub, channel)
        if session is None:
            self.dropped.append({"type": sub["type"], "event": event})
            return False
        message_id = await self._send(
            session,
            "notification",
            {"subscription": self._public(sub), "event": event},
            message_id=mid or str(uuid.uuid4()),
            subscription_type=sub["type"],
            subscription_version=sub["version"],
        )
        self.delivered.append({"message_id": message_id, "session_id": session.id, "type": sub["type"]})
        return True

    # -- Helix: subscriptions with the websocket and conduit transports -------------------------------
    def create_subscription(self, token: Token, body: dict[str, Any]) -> web.Response:
        transport = body.get("transport") or {}
        if transport.get("method") == "websocket":
            if not token.user_id:
                return _error(400, "The websocket transport requires a user access token.")
            session = self.sessions.get(str(transport.get("session_id")))
            if session is None or session.status == "closed":
                return _error(400, "websocket transport session does not exist or has already disconnected")
            mine = [
                s
                for s in self.twitch.subscriptions.values()
                if s["transport"]["method"] == "websocket"
                and s["_user_id"] == token.user_id
                and s["status"] == "enabled"
            ]
            sessions = {s["transport"]["session_id"] for s in mine}
            if session.id not in sessions and len(sessions) >= MAX_WS_PER_USER:
                return _error(429, "number of websocket transports limit exceeded")
            if sum(1 for s in mine if s["transport"]["session_id"] == session.id) >= MAX_SUBS_PER_SESSION:
                return _error(429, "subscription limit for this session exceeded")
            cost = 0 if body.get("condition", {}).get("broadcaster_user_id") == token.user_id else 1
            if sum(s["cost"] for s in mine) + cost > MAX_WS_COST:
                return _error(429, "total cost exceeded")
            shown = {"method": "websocket", "session_id": session.id, "connected_at": session.connected_at}
        elif transport.get("method") == "conduit":
            if token.user_id:
                return _error(401, "An app access token is required.")
            if transport.get("conduit_id") not in self.conduits:
                return _error(400, "conduit not found")
            shown, cost = {"method": "conduit", "conduit_id": transport["conduit_id"]}, 0
        else:
            return _error(400, "invalid transport")
        if not isinstance(body.get("type"), str) or not isinstance(body.get("condition"), dict):
            return _error(400, "type and condition are required")
        for sub in self.twitch.subscriptions.values():
            if (sub["type"], sub["condition"]) == (body["type"], body["condition"]) and sub["status"] == "enabled":
                if sub["transport"]["method"] == shown["method"]:
                    return _error(409, "subscription already exists")
        sub = {
            "id": str(uuid.uuid4()),
            "status": "enabled",
            "type": body["type"],
            "version": str(body.get("version", "1")),
            "condition": body["condition"],
            "created_at": now_rfc3339(),
            "transport": shown,
            "cost": cost,
            "_user_id": token.user_id,
            "_client_id": token.client_id,
        }
        self.twitch.subscriptions[sub["id"]] = sub
        self.twitch.calls.append(("create_subscription", f"{shown['method']} {body['type']}"))
        return web.json_response(
            {
                "data": [self._public(sub)],
                "total": len(self.twitch.subscriptions),
                "total_cost": 0,
                "max_total_cost": 10,
            },
            status=202,
        )

    # -- Helix: conduits (app access token) ----------------------------------------------------------
    def _app(self, request: web.Request) -> Token | web.Response:
        return self.twitch._app_auth(request)  # noqa: SLF001

    async def get_conduits(self, request: web.Request) -> web.Response:
        token = self._app(request)
        if isinstance(token, web.Response):
            return token
        data = [
            {"id": c.id, "shard_count": len(c.shards)} for c in self.conduits.values() if c.client_id == token.client_id
        ]
        return web.json_response({"data": data})

    async def create_conduit(self, request: web.Request) -> web.Response:
        token = self._app(request)
        if isinstance(token, web.Response):
            return token
        count = (await request.json()).get("shard_count")
        if not isinstance(count, int) or not 1 <= count <= 20000:
            return _error(400, "shard_count must be between 1 and 20000")
        if sum(1 for c in self.conduits.values() if c.client_id == token.client_id) >= MAX_CONDUITS:
            return _error(429, "conduit limit reached")
        conduit = Conduit(str(uuid.uuid4()), token.client_id, [])
        self._resize(conduit, count)
        self.conduits[conduit.id] = conduit
        self.twitch.calls.append(("create_conduit", str(count)))
        return web.json_response({"data": [{"id": conduit.id, "shard_count": count}]})

    def _resize(self, conduit: Conduit, count: int) -> None:
        while len(conduit.shards) < count:
            conduit.shards.append({"id": str(len(conduit.shards)), "status": "disabled", "transport": {}})
        del conduit.shards[count:]

    def _owned(self, token: Token, conduit_id: str) -> Conduit | None:
        conduit = self.conduits.get(conduit_id)
        return conduit if conduit is not None and conduit.client_id == token.client_id else None

    async def update_conduit(self, request: web.Request) -> web.Response:
        token = self._app(request)
        if isinstance(token, web.Response):
            return token
        body = await request.json()
        count = body.get("shard_count")
        if not isinstance(count, int) or not 1 <= count <= 20000:
            return _error(400, "shard_count must be between 1 and 20000")
        conduit = self._owned(token, str(body.get("id")))
        if conduit is None:
            return _error(404, "conduit not found")
        self._resize(conduit, count)
        return web.json_response({"data": [{"id": conduit.id, "shard_count": count}]})

    async def delete_conduit(self, request: web.Request) -> web.Response:
        token = self._app(request)
        if isinstance(token, web.Response):
            return token
        conduit = self._owned(token, request.query.get("id", ""))
        if conduit is None:
            return _error(404, "conduit not found")
        del self.conduits[conduit.id]
        for sub in self.twitch.subscriptions.values():
            if sub["transport"].get("conduit_id") == conduit.id:
                sub["status"] = "conduit_deleted"
        return web.Response(status=204)

    async def get_shards(self, request: web.Request) -> web.Response:
        token = self._app(request)
        if isinstance(token, web.Response):
            return token
        conduit = self._owned(token, request.query.get("conduit_id", ""))
        if conduit is None:
            return _error(404, "conduit not found")
        status = request.query.get("status")
        data = [s for s in conduit.shards if not status or s["status"] == status]
        return web.json_response({"data": data, "pagination": {}})

    async def update_shards(self, request: web.Request) -> web.Response:
        token = self._app(request)
        if isinstance(token, web.Response):
            return token
        body = await request.json()
        self.patches.append(body)
        conduit = self._owned(token, str(body.get("conduit_id")))
        if conduit is None:
            return _error(404, "conduit not found")
        if not isinstance(body.get("shards"), list):
            return _error(400, "shards are required")
        data, errors = [], []
        for shard in body["shards"]:
            sid, transport = str(shard.get("id")), shard.get("transport") or {}
            if not sid.isdigit() or int(sid) >= len(conduit.shards):
                errors.append({"id": sid, "message": "The shard id is outside of the conduit's range.", "code": ""})
                continue
            if transport.get("method") == "websocket":
                session = self.sessions.get(str(transport.get("session_id")))
                if session is None or session.status == "closed":
                    errors.append({"id": sid, "message": "The websocket session is not connected.", "code": ""})
                    continue
                shown = {"method": "websocket", "session_id": session.id, "connected_at": session.connected_at}
            elif transport.get("method") == "webhook":
                shown = {"method": "webhook", "callback": transport.get("callback")}
            else:
                errors.append({"id": sid, "message": "invalid transport", "code": ""})
                continue
            conduit.shards[int(sid)] = {"id": sid, "status": "enabled", "transport": shown}
            data.append(conduit.shards[int(sid)])
        return web.json_response({"data": data, "errors": errors}, status=202)

    def shard_states(self) -> list[str]:
        return [s["status"] for c in self.conduits.values() for s in c.shards]

    async def going_away(self, _app: web.Application) -> None:
        """The fake stops: its sockets close with 1001 rather than hold the shutdown."""
        for session in self.live():
            await session.ws.close(code=WSCloseCode.GOING_AWAY)

    def mount(self, app: web.Application) -> None:
        app.on_shutdown.append(self.going_away)
        app.router.add_get("/ws", self.ws_handler)
        app.router.add_get("/helix/eventsub/conduits", self.get_conduits)
        app.router.add_post("/helix/eventsub/conduits", self.create_conduit)
        app.router.add_patch("/helix/eventsub/conduits", self.update_conduit)
        app.router.add_delete("/helix/eventsub/conduits", self.delete_conduit)
        app.router.add_get("/helix/eventsub/conduits/shards", self.get_shards)
        app.router.add_patch("/helix/eventsub/conduits/shards", self.update_shards)


__all__ = ["FakeEventSub", "Session", "WSCloseCode"]
