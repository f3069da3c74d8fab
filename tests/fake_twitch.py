"""A local fake Twitch: OAuth (id.twitch.tv/oauth2) and the Helix endpoints we use, answering with
Twitch's documented statuses and bodies. Tests point TWITCH_AUTH_BASE and
TWITCH_API_BASE at it; our code is not patched."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.fake_eventsub import FakeEventSub

CLIENT_ID = "fakeclientid0123456789abcdefghij"
CLIENT_SECRET = "fake-client-secret-0123456789"


@dataclass
class Token:
    user_id: str
    client_id: str
    scopes: list[str]
    valid: bool = True


@dataclass
class FakeTwitch:
    user: dict[str, str] = field(
        default_factory=lambda: {"id": "5550001", "login": "real_streamer", "display_name": "Real_Streamer"}
    )
    grant_scopes: list[str] = field(  # what the broadcaster grants when asked (everything we may ask for)
        default_factory=lambda: [
            "channel:read:redemptions",
            "channel:manage:redemptions",
            "moderation:read",
            "user:read:chat",
            "user:write:chat",
            "user:bot",
            "channel:bot",
            "channel:moderate",
        ]
    )
    # code -> (redirect_uri, scopes, user id): who consented on Twitch's page for that code
    codes: dict[str, tuple[str, list[str], str]] = field(default_factory=dict)
    people: dict[str, dict[str, str]] = field(default_factory=dict)  # Twitch users by id (besides `user`)
    signing_in: str | None = None  # the user id the next consent is given as (None: `user`)
    revoked: list[str] = field(default_factory=list)  # user ids whose tokens were revoked
    access: dict[str, Token] = field(default_factory=dict)
    refresh: dict[str, Token] = field(default_factory=dict)
    rewards: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    # While set and not yet released, refresh-token requests wait here (after being counted in `calls`).
    refresh_gate: asyncio.Event | None = None
    redemptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Forced answers to the next PATCH redemptions, in order: (status, headers) with Twitch's error body,
    # or (status, headers, raw body) for an answer that is not Twitch's JSON (a proxy's error page).
    patch_script: list[tuple[Any, ...]] = field(default_factory=list)
    reward_patch_script: list[int] = field(default_factory=list)  # forced statuses for PATCH custom_rewards
    patch_delay: float = 0.0
    patches: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets_by_sub: dict[str, str] = field(default_factory=dict)
    challenge_tasks: list[Any] = field(default_factory=list)
    # Faults for soak runs: a share of Helix calls answered 503 or 429 (half each), or all of them 503.
    fail_rate: float = 0.0
    down: bool = False
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    faults_sent: int = 0
    accepted: dict[str, list[str]] = field(default_factory=dict)  # redemption id -> statuses Twitch took
    moderators: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # broadcaster id -> users
    # Send Chat Message: what Twitch accepted, its send limits (switchable), what it was forced to drop.
    chat_sent: list[dict[str, Any]] = field(default_factory=list)
    chat_limits: bool = True
    chat_violations: list[dict[str, Any]] = field(default_factory=list)  # sends over a limit (Twitch ignores them)
    chat_drop_next: list[str] = field(default_factory=list)  # drop_reason codes for the next sends
    chat_times: dict[str, list[float]] = field(default_factory=dict)  # sender -> send times (monotonic)
    chat_last: dict[tuple[str, str], float] = field(default_factory=dict)  # (sender, channel) -> last send
    chat_arrived: asyncio.Event = field(default_factory=asyncio.Event)  # set on each message sent
    eventsub: FakeEventSub = field(init=False)

    def __post_init__(self) -> None:
        self.eventsub = FakeEventSub(self)

    def person(self, user_id: str) -> dict[str, str]:
        return self.user if user_id == self.user["id"] else self.people[user_id]

    def sign_in_as(self, login: str) -> dict[str, str]:
        """Someone else is at the browser: the next consent on Twitch's page is theirs (a moderator)."""
        everyone = [self.user, *self.people.values()]
        found = next((u for u in everyone if u["login"] == login.lower()), None)
        if found is None:
            found = {"id": str(8000000 + len(self.people)), "login": login.lower(), "display_name": login}
            self.people[found["id"]] = found
        self.signing_in = found["id"]
        return found

    def add_reward(self, title: str, client_id: str = CLIENT_ID) -> str:
        rid = str(uuid.uuid4())
        self.rewards[rid] = {
            "id": rid,
            "title": title,
            "cost": 100,
            "is_enabled": True,
            "is_paused": False,
            "_client_id": client_id,
            "broadcaster_id": self.user["id"],
        }
        return rid

    def add_redemption(
        self, reward_id: str, user_name: str = "viewer", user_input: str = "", user_id: str | None = None
    ) -> str:
        rid = str(uuid.uuid4())
        self.redemptions[rid] = {
            "id": rid,
            "reward_id": reward_id,
            "status": "UNFULFILLED",
            "user_id": user_id or "u" + rid[:6],
            "user_name": user_name,
            "user_input": user_input,
            "n": len(self.redemptions),
        }
        return rid

    async def list_redemptions(self, request: web.Request) -> web.Response:
        """GET /channel_points/custom_rewards/redemptions: by reward and status, paginated (first, after)."""
        token = self._auth(request, "channel:read:redemptions")
        if isinstance(token, web.Response):
            return token
        q = request.query
        ids = q.getall("id", [])
        if not q.get("reward_id") or not (q.get("status") or ids):  # status is required unless ids are given
            return web.json_response(
                {"error": "Bad Request", "status": 400, "message": "reward_id and status (or id)"}, status=400
            )
        reward = self.rewards.get(q["reward_id"])
        if reward is None:
            return web.json_response({"error": "Not Found", "status": 404, "message": "reward not found"}, status=404)
        if reward["_client_id"] != token.client_id:
            return web.json_response({"error": "Forbidden", "status": 403, "message": "not your reward"}, status=403)
        found = sorted(
            (
                r
                for r in self.redemptions.values()
                if r["reward_id"] == reward["id"]
                and (not q.get("status") or r["status"] == q["status"])
                and (not ids or r["id"] in ids)
            ),
            key=lambda r: r["n"],
        )
        if q.get("sort") == "NEWEST":
            found.reverse()
        first, after = int(q.get("first", "20")), int(q.get("after") or 0)
        page = found[after : after + first]
        data = [
            {
                "broadcaster_id": token.user_id,
                "id": r["id"],
                "user_id": r["user_id"],
                "user_login": r["user_name"].lower(),
                "user_name": r["user_name"],
                "user_input": r["user_input"],
                "status": r["status"],
                "redeemed_at": "2026-11-29T00:00:00Z",
                "reward": {"id": reward["id"], "title": reward["title"], "prompt": "", "cost": reward["cost"]},
            }
            for r in page
        ]
        return web.json_response(
            {"data": data, "pagination": {"cursor": str(after + first)} if after + first < len(found) else {}}
        )

    # -- helpers for tests ---------------------------------------------------------------------------
    def expire_access_tokens(self) -> None:
        for token in self.access.values():
            token.valid = False

    def revoke_everything(self) -> None:
        self.expire_access_tokens()
        self.refresh.clear()

    def _issue(self, user_id: str, client_id: str, scopes: list[str]) -> dict[str, Any]:
        access, refresh = secrets.token_hex(15), secrets.token_hex(25)
        self.access[access] = Token(user_id, client_id, scopes)
        self.refresh[refresh] = Token(user_id, client_id, scopes)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": 14400,
            "scope": scopes,
            "token_type": "bearer",
        }

    # -- OAuth -----------------------------------------------------------------------------------------
    async def authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
            return web.json_response({"status": 400, "message": "invalid client"}, status=400)
        code = secrets.token_hex(15)
        user_id = self.signing_in or self.user["id"]
        # The broadcaster grants what they were asked for, within grant_scopes; anyone else what was asked.
        asked = q.get("scope", "").split()
        scopes = [s for s in asked if s in self.grant_scopes] if user_id == self.user["id"] else asked
        self.codes[code] = (q["redirect_uri"], scopes, user_id)
        raise web.HTTPFound(
            q["redirect_uri"]
            + "?"
            + urlencode({"code": code, "scope": q.get("scope", ""), "state": q.get("state", "")})
        )

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.calls.append(("token", str(form.get("grant_type"))))
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return web.json_response({"status": 403, "message": "invalid client secret"}, status=403)
        if form.get("grant_type") == "authorization_code":
            found = self.codes.pop(str(form.get("code")), None)
            if found is None or found[0] != form.get("redirect_uri"):
                return web.json_response({"status": 400, "message": "Invalid authorization code"}, status=400)
            return web.json_response(self._issue(found[2], CLIENT_ID, found[1]))
        if form.get("grant_type") == "client_credentials":
            access = secrets.token_hex(15)
            self.access[access] = Token("", CLIENT_ID, [])
            return web.json_response({"access_token": access, "expires_in": 5000000, "token_type": "bearer"})
        if form.get("grant_type") == "refresh_token":
            if self.refresh_gate is not None:
                await self.refresh_gate.wait()
            old = self.refresh.pop(str(form.get("refresh_token")), None)
            if old is None:
                return web.json_response({"status": 400, "message": "Invalid refresh token"}, status=400)
            return web.json_response(self._issue(old.user_id, old.client_id, old.scopes))
        return web.json_response({"status": 400, "message": "unsupported grant_type"}, status=400)

    async def validate(self, request: web.Request) -> web.Response:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        token = self.access.get(value) if scheme == "OAuth" else None
        if token is None or not token.valid:
            return web.json_response({"status": 401, "message": "invalid access token"}, status=401)
        return web.json_response(
            {
                "client_id": token.client_id,
                "login": self.person(token.user_id)["login"],
                "scopes": token.scopes,
                "user_id": token.user_id,
                "expires_in": 3600,
            }
        )

    # -- Helix ---------------------------------------------------------------------------------------
    def _auth(self, request: web.Request, scope: str | None = None) -> Token | web.Response:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        token = self.access.get(value) if scheme == "Bearer" else None
        if token is None or not token.valid or request.headers.get("Client-Id") != token.client_id:
            return web.json_response(
                {"error": "Unauthorized", "status": 401, "message": "Invalid OAuth token"}, status=401
            )
        if scope and scope not in token.scopes:
            return web.json_response(
                {"error": "Unauthorized", "status": 401, "message": f"Missing scope: {scope}"}, status=401
            )
        return token

    def add_moderator(self, login: str, broadcaster_id: str | None = None) -> dict[str, str]:
        """A moderator of the channel (the broadcaster's by default); the same Twitch user as `sign_in_as`."""
        found = next((u for u in self.people.values() if u["login"] == login.lower()), None)
        if found is None:
            found = {"id": str(7000000 + len(self.people)), "login": login.lower(), "display_name": login}
            self.people[found["id"]] = found
        user = {"user_id": found["id"], "user_login": found["login"], "user_name": found["display_name"]}
        self.moderators.setdefault(broadcaster_id or self.user["id"], []).append(user)
        return user

    def remove_moderator(self, login: str, broadcaster_id: str | None = None) -> dict[str, str]:
        mods = self.moderators.get(broadcaster_id or self.user["id"], [])
        user = next(m for m in mods if m["user_login"] == login.lower())
        mods.remove(user)
        return user

    async def get_moderators(self, request: web.Request) -> web.Response:
        """GET /moderation/moderators: the broadcaster's own token with moderation:read (or
        channel:manage:moderators); pages of `first` (1-100, default 20) with an `after` cursor."""
        token = self._auth(request)
        if isinstance(token, web.Response):
            return token
        if not {"moderation:read", "channel:manage:moderators"} & set(token.scopes):
            return web.json_response(
                {"error": "Unauthorized", "status": 401, "message": "Missing scope: moderation:read"}, status=401
            )
        q = request.query
        if not q.get("broadcaster_id"):
            return web.json_response(
                {"error": "Bad Request", "status": 400, "message": "Missing broadcaster_id"}, status=400
            )
        if q["broadcaster_id"] != token.user_id:
            return web.json_response(
                {"error": "Unauthorized", "status": 401, "message": "broadcaster_id must match the token"}, status=401
            )
        try:
            first = int(q.get("first", "20"))
        except ValueError:
            first = 0
        if not 1 <= first <= 100:
            return web.json_response({"error": "Bad Request", "status": 400, "message": "first: 1-100"}, status=400)
        ids = q.getall("user_id", [])
        found = [m for m in self.moderators.get(token.user_id, []) if not ids or m["user_id"] in ids]
        after = int(q.get("after") or 0)
        page = found[after : after + first]
        self.calls.append(("get_moderators", str(after)))
        pagination = {"cursor": str(after + first)} if after + first < len(found) else {}
        return web.json_response({"data": page, "pagination": pagination})

    async def users(self, request: web.Request) -> web.Response:
        token = self._auth(request)
        if isinstance(token, web.Response):
            return token
        return web.json_response(
            {"data": [{**self.person(token.user_id), "type": "", "broadcaster_type": "affiliate"}]}
        )

    async def revoke(self, request: web.Request) -> web.Response:
        """POST /oauth2/revoke: client_id and token, as a form or as query parameters."""
        form = {**request.query, **(await request.post())}
        if form.get("client_id") != CLIENT_ID:
            return web.json_response({"status": 404, "message": "client does not exist"}, status=404)
        token = self.access.pop(str(form.get("token")), None)
        if token is None:
            return web.json_response({"status": 400, "message": "Invalid token"}, status=400)
        self.revoked.append(token.user_id)
        return web.Response(status=200)

    def _granted(self, user_id: str, *scopes: str) -> bool:
        """Has this user granted our client every one of `scopes` (a live token says so)?"""
        return any(
            t.user_id == user_id and t.valid and set(scopes) <= set(t.scopes)
            for t in list(self.access.values()) + list(self.refresh.values())
        )

    def is_moderator(self, broadcaster_id: str, user_id: str) -> bool:
        return any(m["user_id"] == user_id for m in self.moderators.get(broadcaster_id, []))

    async def send_chat(self, request: web.Request) -> web.Response:
        """POST /chat/messages with a user token (user:write:chat): 400 for missing ids, 401 when the
        sender is not the token's user, 422 over 500 characters. Over a send limit the message is not
        sent (`is_sent: false`) and the violation recorded: Twitch would ignore the sender for an hour.
        Limits per sender: 100 / 30 s for the broadcaster or a moderator of the channel, else 20 / 30 s
        and 1 / s per channel."""
        token = self._auth(request, "user:write:chat")
        if isinstance(token, web.Response):
            return token
        body = await request.json()
        bid, sender, text = body.get("broadcaster_id"), body.get("sender_id"), body.get("message")
        if not bid or not sender or not isinstance(text, str) or not text:
            return web.json_response(
                {"error": "Bad Request", "status": 400, "message": "missing ids or message"}, status=400
            )
        if sender != token.user_id:
            return web.json_response(
                {"error": "Unauthorized", "status": 401, "message": "sender_id must match the token"}, status=401
            )
        if len(text) > 500:
            return web.json_response(
                {"error": "Unprocessable Entity", "status": 422, "message": "message is too large"}, status=422
            )
        now = time.monotonic()
        privileged = sender == bid or self.is_moderator(bid, sender)
        times = [t for t in self.chat_times.get(sender, []) if now - t < 30.0]
        over = len(times) >= (100 if privileged else 20)
        if not privileged and now - self.chat_last.get((sender, bid), -10.0) < 1.0:
            over = True
        message = {**body, "at": now}
        if over and self.chat_limits:
            self.chat_violations.append(message)
            return self._dropped("msg_ratelimit", "over the send limit")
        if self.chat_drop_next:
            return self._dropped(self.chat_drop_next.pop(0), "the message was rejected")
        self.chat_times[sender] = [*times, now]
        self.chat_last[(sender, bid)] = now
        self.chat_sent.append(message)
        self.chat_arrived.set()
        return web.json_response({"data": [{"message_id": str(uuid.uuid4()), "is_sent": True, "drop_reason": None}]})

    @staticmethod
    def _dropped(code: str, text: str) -> web.Response:
        return web.json_response(
            {"data": [{"message_id": "", "is_sent": False, "drop_reason": {"code": code, "message": text}}]}
        )

    async def create_reward(self, request: web.Request) -> web.Response:
        token = self._auth(request, "channel:manage:redemptions")
        if isinstance(token, web.Response):
            return token
        self.calls.append(("create_reward", request.query.get("broadcaster_id", "")))
        if request.query.get("broadcaster_id") != token.user_id:
            return web.json_response(
                {"error": "Forbidden", "status": 403, "message": "broadcaster_id must match the user token"}, status=403
            )
        body = await request.json()
        if not body.get("title") or not isinstance(body.get("cost"), int) or body["cost"] < 1:
            return web.json_response(
                {"error": "Bad Request", "status": 400, "message": "Missing title or cost"}, status=400
            )
        if any(r["title"] == body["title"] for r in self.rewards.values()):
            return web.json_response(
                {"error": "Bad Request", "status": 400, "message": "CREATE_CUSTOM_REWARD_DUPLICATE_REWARD"}, status=400
            )
        reward = {
            "broadcaster_id": token.user_id,
            "broadcaster_login": self.user["login"],
            "broadcaster_name": self.user["display_name"],
            "id": str(uuid.uuid4()),
            "title": body["title"],
            "prompt": "",
            "cost": body["cost"],
            "is_enabled": True,
            "is_paused": False,
            "is_in_stock": True,
            "should_redemptions_skip_request_queue": False,
            "_client_id": token.client_id,
        }
        self.rewards[reward["id"]] = reward
        return web.json_response({"data": [{k: v for k, v in reward.items() if not k.startswith("_")}]})

    async def list_rewards(self, request: web.Request) -> web.Response:
        token = self._auth(request, "channel:read:redemptions")
        if isinstance(token, web.Response):
            return token
        if request.query.get("broadcaster_id") != token.user_id:
            return web.json_response(
                {"error": "Forbidden", "status": 403, "message": "broadcaster mismatch"}, status=403
            )
        only_ours = request.query.get("only_manageable_rewards") == "true"
        ids = request.query.getall("id", [])
        data = [
            {k: v for k, v in r.items() if not k.startswith("_")}
            for r in self.rewards.values()
            if (not only_ours or r["_client_id"] == token.client_id) and (not ids or r["id"] in ids)
        ]
        if ids and not data:  # "If none are found the response is 404."
            return web.json_response({"error": "Not Found", "status": 404, "message": "reward not found"}, status=404)
        return web.json_response({"data": data})

    async def update_reward(self, request: web.Request) -> web.Response:
        """PATCH /channel_points/custom_rewards?broadcaster_id=&id= (only the creating client may)."""
        token = self._auth(request, "channel:manage:redemptions")
        if isinstance(token, web.Response):
            return token
        reward = self.rewards.get(request.query.get("id", ""))
        body = await request.json()
        self.calls.append(("update_reward", f"{request.query.get('id')} is_paused={body.get('is_paused')}"))
        if self.reward_patch_script:
            status = self.reward_patch_script.pop(0)
            return web.json_response({"error": "forced", "status": status, "message": "forced by test"}, status=status)
        if reward is None:
            return web.json_response({"error": "Not Found", "status": 404, "message": "reward not found"}, status=404)
        if reward["_client_id"] != token.client_id:
            return web.json_response({"error": "Forbidden", "status": 403, "message": "not your reward"}, status=403)
        for k in ("is_paused", "is_enabled", "title", "cost"):
            if k in body:
                reward[k] = body[k]
        return web.json_response({"data": [{k: v for k, v in reward.items() if not k.startswith("_")}]})

    async def update_redemptions(self, request: web.Request) -> web.Response:
        """PATCH /channel_points/custom_rewards/redemptions (Twitch's Update Redemption Status)."""
        if self.patch_delay:
            await asyncio.sleep(self.patch_delay)
        token = self._auth(request, "channel:manage:redemptions")
        if isinstance(token, web.Response):
            return token
        ids = request.query.getall("id", [])
        body = await request.json()
        self.patches.append({"ids": ids, "status": body.get("status"), "reward_id": request.query.get("reward_id")})
        if self.patch_script:
            status, headers, *raw = self.patch_script.pop(0)
            if raw:
                return web.Response(status=status, headers=headers, text=raw[0], content_type="text/html")
            return web.json_response(
                {"error": "forced", "status": status, "message": "forced by test"}, status=status, headers=headers
            )
        if (
            not ids
            or len(ids) > 50
            or not request.query.get("reward_id")
            or body.get("status") not in ("FULFILLED", "CANCELED")
        ):
            return web.json_response({"error": "Bad Request", "status": 400, "message": "bad parameters"}, status=400)
        if request.query.get("broadcaster_id") != token.user_id:
            return web.json_response(
                {"error": "Forbidden", "status": 403, "message": "broadcaster mismatch"}, status=403
            )
        reward = self.rewards.get(request.query["reward_id"])
        if reward is None:
            return web.json_response({"error": "Not Found", "status": 404, "message": "reward not found"}, status=404)
        if reward["_client_id"] != token.client_id:
            return web.json_response(
                {
                    "error": "Forbidden",
                    "status": 403,
                    "message": "The ID in the Client-Id "
                    "header must match the client ID used to create the custom reward.",
                },
                status=403,
            )
        updated = []
        for rid in ids:
            red = self.redemptions.get(rid)
            if red and red["reward_id"] == reward["id"] and red["status"] == "UNFULFILLED":
                red["status"] = body["status"]
                self.accepted.setdefault(rid, []).append(body["status"])
                updated.append({"id": rid, "status": body["status"], "reward": {"id": reward["id"]}})
        if not updated:
            return web.json_response(
                {"error": "Not Found", "status": 404, "message": "redemptions not found"}, status=404
            )
        return web.json_response({"data": updated})

    # -- EventSub subscriptions (webhook transport: app access token) --------------------------------
    def _app_auth(self, request: web.Request) -> Token | web.Response:
        token = self._auth(request)
        if isinstance(token, Token) and token.user_id:
            return web.json_response(
                {"error": "Unauthorized", "status": 401, "message": "An app access token is required."}, status=401
            )
        return token

    async def list_subscriptions(self, request: web.Request) -> web.Response:
        """An app token lists the client's webhook and conduit subscriptions; a user token, that user's
        WebSocket ones."""
        token = self._auth(request)
        if isinstance(token, web.Response):
            return token
        subs = [
            {k: v for k, v in s.items() if not k.startswith("_")}
            for s in self.subscriptions.values()
            if (s["transport"]["method"] == "websocket") == bool(token.user_id)
            and (not token.user_id or s.get("_user_id") == token.user_id)
        ]
        page, after = 5, int(request.query.get("after") or 0)  # small pages: callers must follow the cursor
        chunk = subs[after : after + page]
        pagination = {"cursor": str(after + page)} if after + page < len(subs) else {}
        return web.json_response(
            {"data": chunk, "total": len(subs), "total_cost": 0, "max_total_cost": 10000, "pagination": pagination}
        )

    async def create_subscription(self, request: web.Request) -> web.Response:
        body = await request.json()
        transport = body.get("transport") or {}
        if transport.get("method") in ("websocket", "conduit"):
            user_token = self._auth(request)
            if isinstance(user_token, web.Response):
                return user_token
            if transport.get("method") == "conduit" and not self._authorized_for(body):
                return web.json_response(
                    {"error": "Forbidden", "status": 403, "message": "subscription missing proper authorization"},
                    status=403,
                )
            return self.eventsub.create_subscription(user_token, body)
        token = self._app_auth(request)
        if isinstance(token, web.Response):
            return token
        if not self._authorized_for(body):
            return web.json_response(
                {"error": "Forbidden", "status": 403, "message": "subscription missing proper authorization"},
                status=403,
            )
        secret = transport.get("secret", "")
        if not (10 <= len(secret) <= 100) or transport.get("method") != "webhook":
            return web.json_response(
                {"error": "Bad Request", "status": 400, "message": "invalid transport"}, status=400
            )
        for sub in self.subscriptions.values():
            if (sub["type"], sub["condition"], sub["transport"].get("callback")) == (
                body["type"],
                body["condition"],
                transport["callback"],
            ) and sub["status"] in ("enabled", "webhook_callback_verification_pending"):
                return web.json_response(
                    {"error": "Conflict", "status": 409, "message": "subscription already exists"}, status=409
                )
        sub = {
            "id": str(uuid.uuid4()),
            "status": "webhook_callback_verification_pending",
            "type": body["type"],
            "version": body["version"],
            "condition": body["condition"],
            "created_at": "2026-11-29T00:00:00Z",
            "transport": {"method": "webhook", "callback": transport["callback"]},
            "cost": 1,
        }
        self.subscriptions[sub["id"]] = sub
        self.secrets_by_sub[sub["id"]] = secret
        self.challenge_tasks.append(asyncio.ensure_future(self._verify(sub)))
        return web.json_response(
            {"data": [sub], "total": len(self.subscriptions), "total_cost": 0, "max_total_cost": 10000}, status=202
        )

    def _authorized_for(self, body: dict[str, Any]) -> bool:
        """What the app-token path needs granted: channel.chat.message, the reader's user:read:chat and
        user:bot, and the broadcaster's channel:bot unless the reader moderates the channel;
        channel.ban, channel:moderate; the moderator events, moderation:read."""
        condition = body.get("condition") or {}
        bid = condition.get("broadcaster_user_id", "")
        if body.get("type") == "channel.chat.message":
            reader = condition.get("user_id", "")
            return self._granted(reader, "user:read:chat", "user:bot") and (
                self._granted(bid, "channel:bot") or self.is_moderator(bid, reader)
            )
        if body.get("type") == "channel.ban":
            return self._granted(bid, "channel:moderate")
        if body.get("type") in ("channel.moderator.add", "channel.moderator.remove"):
            return self._granted(bid, "moderation:read")
        return True

    async def _verify(self, sub: dict[str, Any]) -> None:
        """Twitch's callback verification: a signed challenge the callback must echo as text/plain."""
        import aiohttp

        from tests.helpers import delivery

        challenge = secrets.token_hex(16)
        headers, raw = delivery(
            {"challenge": challenge, "subscription": sub},
            "webhook_callback_verification",
            secret=self.secrets_by_sub[sub["id"]],
            sub_type=sub["type"],
        )
        try:
            async with (
                aiohttp.ClientSession() as s,
                s.post(sub["transport"]["callback"], data=raw, headers=headers) as r,
            ):
                ok = r.status == 200 and await r.text() == challenge and r.content_type == "text/plain"
        except aiohttp.ClientError:
            ok = False
        sub["status"] = "enabled" if ok else "webhook_callback_verification_failed"

    async def settle(self) -> None:
        while self.challenge_tasks:
            await asyncio.gather(*self.challenge_tasks)
            self.challenge_tasks = [t for t in self.challenge_tasks if not t.done()]

    async def delete_subscription(self, request: web.Request) -> web.Response:
        token = self._auth(request)
        if isinstance(token, web.Response):
            return token
        if self.subscriptions.pop(request.query.get("id", ""), None) is None:
            return web.json_response({"error": "Not Found", "status": 404, "message": "not found"}, status=404)
        return web.Response(status=204)

    @web.middleware
    async def faults(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Twitch having a bad day, on Helix only (OAuth stays up): as its documented errors."""
        if request.path.startswith("/helix/") and (self.down or self.rng.random() < self.fail_rate):
            self.faults_sent += 1
            if not self.down and self.rng.random() < 0.5:
                reset = str(int(time.time()) + 1)
                return web.json_response(
                    {"error": "Too Many Requests", "status": 429, "message": "rate limited"},
                    status=429,
                    headers={"Ratelimit-Limit": "800", "Ratelimit-Remaining": "0", "Ratelimit-Reset": reset},
                )
            return web.json_response(
                {"error": "Service Unavailable", "status": 503, "message": "unavailable"}, status=503
            )
        return await handler(request)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.faults])
        app.router.add_get("/oauth2/authorize", self.authorize)
        app.router.add_post("/oauth2/token", self.token)
        app.router.add_get("/oauth2/validate", self.validate)
        app.router.add_post("/oauth2/revoke", self.revoke)
        app.router.add_get("/helix/users", self.users)
        app.router.add_get("/helix/moderation/moderators", self.get_moderators)
        app.router.add_post("/helix/chat/messages", self.send_chat)
        app.router.add_post("/helix/channel_points/custom_rewards", self.create_reward)
        app.router.add_patch("/helix/channel_points/custom_rewards", self.update_reward)
        app.router.add_get("/helix/channel_points/custom_rewards", self.list_rewards)
        app.router.add_patch("/helix/channel_points/custom_rewards/redemptions", self.update_redemptions)
        app.router.add_get("/helix/channel_points/custom_rewards/redemptions", self.list_redemptions)
        app.router.add_get("/helix/eventsub/subscriptions", self.list_subscriptions)
        app.router.add_post("/helix/eventsub/subscriptions", self.create_subscription)
        app.router.add_delete("/helix/eventsub/subscriptions", self.delete_subscription)
        self.eventsub.mount(app)
        return app
