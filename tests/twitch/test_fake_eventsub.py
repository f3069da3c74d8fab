"""The fake EventSub WebSocket server behaves as Twitch documents (what our transport is tested against
is only as good as this): welcome, keepalives, pings, close codes, reconnects, the Helix subscription
rules for websocket and conduit transports, conduits and shards, routing with one fallback."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import orjson
import pytest

from tests.fake_twitch import CLIENT_ID, FakeTwitch, Token
from tests.helpers import until

Frame = dict[str, Any]


@pytest.fixture
def fake(twitch: tuple[FakeTwitch, str]) -> FakeTwitch:
    return twitch[0]


@pytest.fixture
def base(twitch: tuple[FakeTwitch, str]) -> str:
    return twitch[1]


def user_token(fake: FakeTwitch, user_id: str = "5550001") -> str:
    return str(fake._issue(user_id, CLIENT_ID, [])["access_token"])  # noqa: SLF001


def app_token(fake: FakeTwitch) -> str:
    fake.access["app-token"] = Token("", CLIENT_ID, [])
    return "app-token"


async def helix(base: str, method: str, path: str, token: str, **kw: Any) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}", "Client-Id": CLIENT_ID}
    async with aiohttp.ClientSession() as s, s.request(method, f"{base}/helix/{path}", headers=headers, **kw) as r:
        raw = await r.read()
        return r.status, orjson.loads(raw) if raw else {}


async def frame(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> Frame:
    msg = await ws.receive(timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    found: Frame = orjson.loads(msg.data)
    return found


async def closed_with(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> int | None:
    while True:
        msg = await ws.receive(timeout)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            return ws.close_code


def ws_url(base: str, query: str = "") -> str:
    return "ws" + base.removeprefix("http") + "/ws" + query


def subscribe_body(session_id: str, sub_type: str = "channel.follow", broadcaster: str = "5550001") -> Frame:
    return {
        "type": sub_type,
        "version": "1",
        "condition": {"broadcaster_user_id": broadcaster},
        "transport": {"method": "websocket", "session_id": session_id},
    }


async def test_the_welcome_comes_at_once_in_twitchs_shape_with_the_keepalive_clamped(base: str) -> None:
    async with aiohttp.ClientSession() as s:
        for asked, got in (("5", 10), ("900", 600), ("30", 30)):
            async with s.ws_connect(ws_url(base, f"?keepalive_timeout_seconds={asked}")) as ws:
                welcome = await frame(ws, 1.0)
                assert set(welcome) == {"metadata", "payload"}
                assert set(welcome["metadata"]) == {"message_id", "message_type", "message_timestamp"}
                assert welcome["metadata"]["message_type"] == "session_welcome"
                assert welcome["metadata"]["message_timestamp"].endswith("Z")
                assert len(welcome["metadata"]["message_timestamp"].split(".")[1]) == 10  # nanoseconds + Z
                session = welcome["payload"]["session"]
                assert session["status"] == "connected" and session["reconnect_url"] is None
                assert session["keepalive_timeout_seconds"] == got


async def test_keepalives_follow_silence_and_a_notification_resets_their_timer(fake: FakeTwitch, base: str) -> None:
    fake.eventsub.keepalive_override = 1
    async with aiohttp.ClientSession() as s, s.ws_connect(ws_url(base)) as ws:
        welcome = await frame(ws)
        session_id = welcome["payload"]["session"]["id"]
        started = time.monotonic()
        keepalive = await frame(ws)
        assert keepalive["metadata"]["message_type"] == "session_keepalive" and keepalive["payload"] == {}
        assert 0.9 <= time.monotonic() - started < 1.5
        status, _ = await helix(
            base, "POST", "eventsub/subscriptions", user_token(fake), json=subscribe_body(session_id)
        )
        assert status == 202
        await fake.eventsub.notify("channel.follow", "5550001", {"user_id": "1"})
        sent = time.monotonic()
        note = await frame(ws)
        assert note["metadata"]["message_type"] == "notification"
        assert note["metadata"]["subscription_type"] == "channel.follow"
        assert note["metadata"]["subscription_version"] == "1"
        assert note["payload"]["subscription"]["transport"]["session_id"] == session_id
        after = await frame(ws)
        assert after["metadata"]["message_type"] == "session_keepalive"
        assert time.monotonic() - sent >= 0.9  # counted from the notification, not the last keepalive
        fake.eventsub.keepalives = False  # the switch: silence
        with pytest.raises(TimeoutError):
            await ws.receive(1.5)


async def test_pings_need_pongs_and_any_client_data_frame_is_refused(fake: FakeTwitch, base: str) -> None:
    fake.eventsub.ping_every, fake.eventsub.pong_within = 0.05, 0.2
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(ws_url(base), autoping=False) as ws:
            await frame(ws)
            msg = await ws.receive(2)
            assert msg.type == aiohttp.WSMsgType.PING  # and we never answer it
            assert await closed_with(ws) == 4002
        async with s.ws_connect(ws_url(base)) as ws:  # aiohttp answers pings: the socket stays up
            await frame(ws)
            await ws.send_str('{"hello": "twitch"}')
            assert await closed_with(ws) == 4001


async def test_an_unused_socket_is_closed_after_the_deadline(fake: FakeTwitch, base: str) -> None:
    fake.eventsub.deadline = 0.2
    async with aiohttp.ClientSession() as s, s.ws_connect(ws_url(base)) as ws:
        await frame(ws)
        assert await closed_with(ws) == 4003


async def test_session_reconnect_moves_subscriptions_and_the_old_socket_gets_4004_if_left_open(
    fake: FakeTwitch, base: str
) -> None:
    fake.eventsub.reconnect_grace = 0.3
    token = user_token(fake)
    async with aiohttp.ClientSession() as s, s.ws_connect(ws_url(base)) as old:
        old_id = (await frame(old))["payload"]["session"]["id"]
        assert (await helix(base, "POST", "eventsub/subscriptions", token, json=subscribe_body(old_id)))[0] == 202
        url = await fake.eventsub.reconnect(old_id)
        note = await frame(old)
        assert note["metadata"]["message_type"] == "session_reconnect"
        assert (
            note["payload"]["session"]["reconnect_url"] == url
            and note["payload"]["session"]["status"] == "reconnecting"
        )
        await fake.eventsub.notify("channel.follow", "5550001", {"n": 1})
        assert (await frame(old))["payload"]["event"] == {"n": 1}  # the old socket delivers until the new welcome
        async with s.ws_connect(url) as new:
            new_id = (await frame(new))["payload"]["session"]["id"]
            await fake.eventsub.notify("channel.follow", "5550001", {"n": 2})
            assert (await frame(new))["payload"]["event"] == {"n": 2}
            [sub] = fake.subscriptions.values()
            assert sub["transport"]["session_id"] == new_id and sub["status"] == "enabled"
            assert await closed_with(old) == 4004  # never closed by the client within the grace
            assert sub["status"] == "enabled"  # the move carried it: not disabled with the old socket
        async with s.ws_connect(url) as again:  # a reconnect URL is good once
            assert await closed_with(again) == 4007


async def test_close_codes_on_demand_and_a_lost_socket_disables_its_subscriptions(fake: FakeTwitch, base: str) -> None:
    token = user_token(fake)
    async with aiohttp.ClientSession() as s:
        for code in range(4000, 4008):
            async with s.ws_connect(ws_url(base)) as ws:
                session_id = (await frame(ws))["payload"]["session"]["id"]
                await fake.eventsub.close(session_id, code)
                assert await closed_with(ws) == code
        async with s.ws_connect(ws_url(base)) as ws:
            session_id = (await frame(ws))["payload"]["session"]["id"]
            assert (await helix(base, "POST", "eventsub/subscriptions", token, json=subscribe_body(session_id)))[
                0
            ] == 202
            await fake.eventsub.drop(session_id)
            [sub] = fake.subscriptions.values()
            assert sub["status"] == "websocket_disconnected" and sub["transport"]["disconnected_at"]


async def test_websocket_subscriptions_follow_twitchs_rules(fake: FakeTwitch, base: str) -> None:
    token = user_token(fake)
    async with aiohttp.ClientSession() as s:
        sockets = [await s.ws_connect(ws_url(base)) for _ in range(4)]
        ids = [(await frame(ws))["payload"]["session"]["id"] for ws in sockets]
        assert (await helix(base, "POST", "eventsub/subscriptions", app_token(fake), json=subscribe_body(ids[0])))[
            0
        ] == 400  # an app token cannot use the websocket transport
        assert (await helix(base, "POST", "eventsub/subscriptions", token, json=subscribe_body("nope")))[0] == 400
        status, body = await helix(base, "POST", "eventsub/subscriptions", token, json=subscribe_body(ids[0]))
        assert status == 202 and body["data"][0]["status"] == "enabled"
        assert body["data"][0]["transport"]["session_id"] == ids[0] and body["max_total_cost"] == 10
        assert (await helix(base, "POST", "eventsub/subscriptions", token, json=subscribe_body(ids[0])))[0] == 409
        for i, other in ((1, "channel.update"), (2, "stream.online")):  # same type + condition: 409 anywhere
            status, _ = await helix(base, "POST", "eventsub/subscriptions", token, json=subscribe_body(ids[i], other))
            assert status == 202
        status, body = await helix(base, "POST", "eventsub/subscriptions", token, json=subscribe_body(ids[3], "x.y"))
        assert (status, body["message"]) == (429, "number of websocket transports limit exceeded")
        listed = await helix(base, "GET", "eventsub/subscriptions", token)
        assert listed[0] == 200 and len(listed[1]["data"]) == 3
        for ws in sockets:
            await ws.close()


async def test_conduits_shards_routing_with_one_fallback_and_shard_disabled(fake: FakeTwitch, base: str) -> None:
    app = app_token(fake)
    user = user_token(fake)
    assert (await helix(base, "POST", "eventsub/conduits", user, json={"shard_count": 2}))[0] == 401
    assert (await helix(base, "POST", "eventsub/conduits", app, json={"shard_count": 0}))[0] == 400
    status, body = await helix(base, "POST", "eventsub/conduits", app, json={"shard_count": 2})
    conduit_id = body["data"][0]["id"]
    assert status == 200 and body["data"][0]["shard_count"] == 2
    for _ in range(4):
        assert (await helix(base, "POST", "eventsub/conduits", app, json={"shard_count": 1}))[0] == 200
    assert (await helix(base, "POST", "eventsub/conduits", app, json={"shard_count": 1}))[0] == 429  # 5 per client
    assert len((await helix(base, "GET", "eventsub/conduits", app))[1]["data"]) == 5
    sub = {
        "type": "channel.follow",
        "version": "1",
        "condition": {"broadcaster_user_id": "5550001"},
        "transport": {"method": "conduit", "conduit_id": conduit_id},
    }
    assert (await helix(base, "POST", "eventsub/subscriptions", user, json=sub))[0] == 401  # app token only
    assert (await helix(base, "POST", "eventsub/subscriptions", app, json=sub))[0] == 202
    watch = {
        "type": "conduit.shard.disabled",
        "version": "1",
        "condition": {"client_id": CLIENT_ID, "conduit_id": conduit_id},
        "transport": {"method": "conduit", "conduit_id": conduit_id},
    }
    assert (await helix(base, "POST", "eventsub/subscriptions", app, json=watch))[0] == 202
    async with aiohttp.ClientSession() as s:
        sockets = [await s.ws_connect(ws_url(base)) for _ in range(2)]
        ids = [(await frame(ws))["payload"]["session"]["id"] for ws in sockets]
        shards = [{"id": str(i), "transport": {"method": "websocket", "session_id": ids[i]}} for i in range(2)]
        bad = [{"id": "7", "transport": {"method": "websocket", "session_id": ids[0]}}]
        bad += [{"id": "1", "transport": {"method": "websocket", "session_id": "gone"}}]
        status, body = await helix(
            base, "PATCH", "eventsub/conduits/shards", app, json={"conduit_id": conduit_id, "shards": bad}
        )
        assert status == 202 and [e["message"] for e in body["errors"]] == [
            "The shard id is outside of the conduit's range.",
            "The websocket session is not connected.",
        ]
        status, body = await helix(
            base, "PATCH", "eventsub/conduits/shards", app, json={"conduit_id": conduit_id, "shards": shards}
        )
        assert status == 202 and body["errors"] == [] and len(body["data"]) == 2
        home = fake.eventsub.home_shard("5550001")
        await fake.eventsub.notify("channel.follow", "5550001", {"n": 1})
        note = await frame(sockets[home])
        assert (
            note["payload"]["event"] == {"n": 1} and note["payload"]["subscription"]["transport"]["method"] == "conduit"
        )
        await fake.eventsub.drop(ids[home])  # the home shard is gone: one other shard gets the event
        disabled = await frame(sockets[1 - home])
        assert disabled["metadata"]["subscription_type"] == "conduit.shard.disabled"
        assert disabled["payload"]["event"]["shard_id"] == str(home)
        assert disabled["payload"]["event"]["status"] == "websocket_disconnected"
        await fake.eventsub.notify("channel.follow", "5550001", {"n": 2})
        assert (await frame(sockets[1 - home]))["payload"]["event"] == {"n": 2}
        await fake.eventsub.drop(ids[1 - home])  # no shard left: the event is dropped
        await until(lambda: fake.eventsub.shard_states()[:2] == ["websocket_disconnected"] * 2)
        assert await fake.eventsub.notify("channel.follow", "5550001", {"n": 3}) == []
        assert fake.eventsub.dropped[-1]["event"] == {"n": 3}
        for ws in sockets:
            await ws.close()
    assert (await helix(base, "DELETE", "eventsub/conduits", app, params={"id": conduit_id}))[0] == 204
    assert {s["status"] for s in fake.subscriptions.values()} == {"conduit_deleted"}


async def test_the_same_message_id_twice_and_a_revocation_frame(fake: FakeTwitch, base: str) -> None:
    token = user_token(fake)
    async with aiohttp.ClientSession() as s, s.ws_connect(ws_url(base)) as ws:
        session_id = (await frame(ws))["payload"]["session"]["id"]
        status, body = await helix(base, "POST", "eventsub/subscriptions", token, json=subscribe_body(session_id))
        sent = await fake.eventsub.notify("channel.follow", "5550001", {"n": 1}, copies=2)
        first, second = await frame(ws), await frame(ws)
        assert sent[0] == sent[1] == first["metadata"]["message_id"] == second["metadata"]["message_id"]
        await fake.eventsub.revoke(body["data"][0]["id"], "authorization_revoked")
        revocation = await frame(ws)
        assert revocation["metadata"]["message_type"] == "revocation"
        assert revocation["payload"]["subscription"]["status"] == "authorization_revoked"
        assert "event" not in revocation["payload"]
