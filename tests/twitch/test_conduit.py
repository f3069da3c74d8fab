"""EVENTSUB_TRANSPORT=conduit against the fake EventSub WebSocket server (tests/fake_eventsub.py): the
conduit and its subscriptions, notifications through the same store-then-process door as webhooks,
session_reconnect, the keepalive watchdog, every close code, a disabled shard, one shard down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import twitch_app
from tests.fake_twitch import FakeTwitch
from tests.helpers import redemption_body, until
from tests.twitch.helpers import USER, after_sign_in, app_owned_queue_reward, run_cli
from twi_overlay import keys, repo
from twi_overlay.ingest.eventsub import HANDLED_TYPES, MODERATOR_TYPES, REDEMPTION_ADD
from twi_overlay.ops import metrics
from twi_overlay.twitch import subscriptions
from twi_overlay.twitch.conduit import CLOSE_REASONS, SHARD_DISABLED, ensure_conduit


async def conduit_app(aiohttp_client: Callable[..., Any], settings_env: dict[str, str], base: str, **extra: str) -> Any:
    return await twitch_app(
        aiohttp_client,
        settings_env,
        base,
        EVENTSUB_TRANSPORT="conduit",
        TWITCH_EVENTSUB_WS_URL="ws" + base.removeprefix("http") + "/ws",
        EVENTSUB_WS_RETRY_SECS="0.01",
        **extra,
    )


@pytest.fixture
async def conduit_client(
    aiohttp_client: Callable[..., Any], settings_env: dict[str, str], twitch: tuple[FakeTwitch, str]
) -> Any:
    return await conduit_app(aiohttp_client, settings_env, twitch[1])


def event(
    fake: FakeTwitch, reward_id: str, user: str = "viewer_one", redemption_id: str | None = None
) -> dict[str, Any]:
    """A redemption Twitch knows about (so a catch-up would find it too), as its EventSub event."""
    rid = redemption_id or fake.add_redemption(reward_id, user_name=user)
    body = redemption_body(USER, reward_id, user_id="u-" + user, user_name=user, redemption_id=rid)
    return body["event"]


def _known(tx: Any, ids: list[str]) -> int:
    marks = ",".join("?" * len(ids))
    return int(tx.execute(f"SELECT count(*) FROM event_raw WHERE message_id IN ({marks})", ids).fetchone()[0])  # noqa: S608


async def stored(client: Any, message_ids: list[str]) -> None:
    """Until every one of these message ids is in event_raw (a frame is stored a moment after it is sent)."""
    ids = sorted(set(message_ids))
    assert ids, "nothing was delivered"

    async def all_stored() -> bool:
        return await client.app[keys.DB].read(_known, ids) == len(ids)

    await until(all_stored)


async def queue_names(client: Any, headers: dict[str, str]) -> list[str]:
    await client.app[keys.PROCESSOR].drain()
    state = await (await client.get("/api/state", headers=headers)).json()
    return [e["user_name"] for e in state["queue"]]


async def ready(client: Any, fake: FakeTwitch) -> tuple[dict[str, str], str]:
    """Signed in with a queue reward, both shards assigned, the catch-ups they asked for done."""
    h, reward_id = await app_owned_queue_reward(client)
    await after_sign_in(client)
    await fake.eventsub.wait_sessions(2)
    await settled(client, fake)
    return h, reward_id


async def settled(client: Any, fake: FakeTwitch) -> None:
    """Every shard connected to a session the fake has open and has assigned, no catch-up waiting or
    running."""
    conduit = client.app[keys.CONDUIT]
    live = fake.eventsub.live

    def done() -> bool:
        open_ids = {s.id for s in live() if s.moved_to is None}
        return (
            all(s.status == "connected" and s.session_id in open_ids for s in conduit.shards)
            and fake.eventsub.shard_states() == ["enabled"] * len(conduit.shards)
            and not conduit.catch_up_busy()
        )

    await until(done)


async def test_a_conduit_is_created_and_every_subscription_names_it(conduit_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    await ready(conduit_client, fake)
    [conduit] = fake.eventsub.conduits.values()
    assert len(conduit.shards) == 2 and fake.eventsub.shard_states() == ["enabled", "enabled"]
    subs = list(fake.subscriptions.values())
    assert sorted(s["type"] for s in subs) == sorted([*HANDLED_TYPES, *MODERATOR_TYPES, SHARD_DISABLED])
    assert {s["transport"]["method"] for s in subs} == {"conduit"}
    assert {s["transport"]["conduit_id"] for s in subs} == {conduit.id}
    assert {s["status"] for s in subs} == {"enabled"}
    # No webhook door while the conduit is the transport.
    assert (await conduit_client.post("/eventsub/webhook", data=b"{}")).status == 404
    body = await (await conduit_client.get("/api/subscriptions")).json()
    assert body["missing"] == [] and body["stale"] == []
    assert body["transport"]["transport"] == "conduit" and body["transport"]["connected_shards"] == 2
    assert [s["status"] for s in body["transport"]["shards"]] == ["connected", "connected"]
    health = await (await conduit_client.get("/healthz")).json()
    assert health["checks"]["eventsub"] == {"ok": True, "transport": "conduit", "connected_shards": 2, "down_s": 0.0}


async def test_a_redemption_through_the_conduit_reaches_the_queue_once(conduit_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    h, reward_id = await ready(conduit_client, fake)
    stored_before = metrics.EVENTSUB_NOTIFICATIONS.labels("conduit")._value.get()
    one = event(fake, reward_id, "first_viewer")
    # Twitch's at-least-once: the same message id twice, and the same event under a second id.
    sent = await fake.eventsub.notify(REDEMPTION_ADD, USER, one, copies=2)
    sent += await fake.eventsub.notify(REDEMPTION_ADD, USER, one)
    assert len(sent) == 3 and len(set(sent)) == 2
    await stored(conduit_client, sent)
    assert await queue_names(conduit_client, h) == ["first_viewer"]
    assert metrics.EVENTSUB_NOTIFICATIONS.labels("conduit")._value.get() - stored_before == 2  # 2 ids stored


async def test_session_reconnect_loses_nothing_and_doubles_nothing(conduit_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    h, reward_id = await ready(conduit_client, fake)
    passes = conduit_client.app[keys.CONDUIT].catch_ups_requested
    old = (await fake.eventsub.wait_sessions(2))[0]
    await fake.eventsub.reconnect(old.id)
    during = await fake.eventsub.notify(REDEMPTION_ADD, USER, event(fake, reward_id, "during_move"))
    # The old socket delivers until the new welcome; then our client moves the shard and closes it.
    await until(lambda: old.status == "closed")
    assert old.close_code is None and old.moved_to is not None  # we closed it ourselves, not Twitch's 4004
    during += await fake.eventsub.notify(REDEMPTION_ADD, USER, event(fake, reward_id, "after_move"))
    await stored(conduit_client, during)
    assert await queue_names(conduit_client, h) == ["during_move", "after_move"]
    assert fake.eventsub.shard_states() == ["enabled", "enabled"]
    assert len(fake.eventsub.live()) == 2
    # The last PATCH names the new session; a move is no gap: no catch-up asked for.
    assert fake.eventsub.patches[-1]["shards"][0]["transport"]["session_id"] == old.moved_to
    assert conduit_client.app[keys.CONDUIT].catch_ups_requested == passes


async def test_a_silent_session_is_replaced_by_the_keepalive_watchdog(
    aiohttp_client: Callable[..., Any], settings_env: dict[str, str], twitch: Any
) -> None:
    fake, base = twitch
    fake.eventsub.keepalive_override = 1  # Twitch's minimum is 10 s; the watchdog reads the welcome
    client = await conduit_app(aiohttp_client, settings_env, base)
    h, reward_id = await ready(client, fake)
    timeouts = metrics.EVENTSUB_WS_KEEPALIVE_TIMEOUTS._value.get()
    first = {s.id for s in fake.eventsub.live()}
    fake.eventsub.keepalives = False  # the sockets stay open but go silent
    fake.add_redemption(reward_id, user_name="while_silent")  # its notification lost with the dead socket
    await until(lambda: metrics.EVENTSUB_WS_KEEPALIVE_TIMEOUTS._value.get() - timeouts >= 2)
    fake.eventsub.keepalives = True
    await settled(client, fake)
    assert not first & {s.id for s in fake.eventsub.live()}  # both replaced
    await stored(client, await fake.eventsub.notify(REDEMPTION_ADD, USER, event(fake, reward_id, "after_silence")))
    # Caught up once, delivered once: the catch-up also sees "after_silence" on Twitch and adds nothing.
    await settled(client, fake)
    assert await queue_names(client, h) == ["while_silent", "after_silence"]


@pytest.mark.parametrize("code", sorted(CLOSE_REASONS))
async def test_every_close_code_leads_to_a_new_assigned_session_and_a_catch_up(
    conduit_client: Any, twitch: Any, code: int
) -> None:
    fake, _ = twitch
    h, reward_id = await ready(conduit_client, fake)
    conduit = conduit_client.app[keys.CONDUIT]
    asked = conduit.catch_ups_requested
    victim = (await fake.eventsub.wait_sessions(2))[0]
    # A redemption made while the shard is gone: Twitch will not send it again.
    missed = fake.add_redemption(reward_id, user_name="while_closed")
    await fake.eventsub.close(victim.id, code)
    await settled(conduit_client, fake)
    assert victim.id not in {s.id for s in fake.eventsub.live()}
    assert fake.eventsub.shard_states() == ["enabled", "enabled"]
    assert conduit.catch_ups_requested > asked
    assert CLOSE_REASONS[code] in {s.last_end for s in conduit.shards}
    assert await queue_names(conduit_client, h) == ["while_closed"], missed


async def test_a_disabled_shard_is_repaired(conduit_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    await ready(conduit_client, fake)
    conduit = conduit_client.app[keys.CONDUIT]
    # Twitch gives up on a socket it still has open (its side of a half-dead connection).
    await fake.eventsub.disable_shard(0)
    await until(lambda: conduit.shards[0].last_end == "shard_disabled")
    await settled(conduit_client, fake)
    assert fake.eventsub.shard_states() == ["enabled", "enabled"]


async def test_one_shard_down_while_the_other_takes_the_traffic(
    aiohttp_client: Callable[..., Any], settings_env: dict[str, str], twitch: Any
) -> None:
    fake, base = twitch
    client = await conduit_app(aiohttp_client, settings_env, base)
    h, reward_id = await ready(client, fake)
    fake.eventsub.refuse = True  # new sockets fail: the dropped shard stays down
    home = fake.eventsub.home_shard(USER)
    victim = next(s for s in fake.eventsub.live() if fake.eventsub.shard_of(s.id) == home)
    await fake.eventsub.drop(victim.id)
    conduit = client.app[keys.CONDUIT]
    await until(lambda: conduit.connected() == 1)
    # The channel hashes to the dead shard: Twitch tries the other one, which delivers.
    await stored(client, await fake.eventsub.notify(REDEMPTION_ADD, USER, event(fake, reward_id, "via_fallback")))
    assert await queue_names(client, h) == ["via_fallback"]
    assert fake.eventsub.dropped == []
    assert (await client.get("/healthz")).status == 200  # one shard is enough
    fake.eventsub.refuse = False
    await settled(client, fake)


async def test_healthz_fails_when_no_shard_has_been_connected_for_a_keepalive_window(
    aiohttp_client: Callable[..., Any], settings_env: dict[str, str], twitch: Any
) -> None:
    fake, base = twitch
    fake.eventsub.keepalive_override = 1
    client = await conduit_app(aiohttp_client, settings_env, base)
    await ready(client, fake)
    fake.eventsub.refuse = True
    for session in fake.eventsub.live():
        await fake.eventsub.close(session.id, 4000)
    conduit = client.app[keys.CONDUIT]
    await until(lambda: conduit.connected() == 0)
    assert (await client.get("/healthz")).status == 200  # not yet: a shard may be back within the window
    await until(lambda: conduit.down_for() > conduit.window)
    r = await client.get("/healthz")
    body = await r.json()
    assert r.status == 503 and "eventsub" in body["failed"] and body["checks"]["eventsub"]["connected_shards"] == 0
    fake.eventsub.refuse = False
    await settled(client, fake)
    assert (await client.get("/healthz")).status == 200


async def test_a_revocation_frame_is_stored_and_leads_to_resubscription(conduit_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    await ready(conduit_client, fake)
    sub = next(s for s in fake.subscriptions.values() if s["type"] == REDEMPTION_ADD)
    await fake.eventsub.revoke(sub["id"], "version_removed")
    del fake.subscriptions[sub["id"]]  # Twitch drops a revoked subscription
    db = conduit_client.app[keys.DB]
    # Stored, processed: the subscription is marked for re-creation.
    await until(lambda: db.read(repo.subscriptions.count_resubscribe))
    result = await subscriptions.reconcile(db, conduit_client.app[keys.TWITCH])
    assert result["created"] == 1
    [again] = [s for s in fake.subscriptions.values() if s["type"] == REDEMPTION_ADD]
    assert again["status"] == "enabled" and again["transport"]["method"] == "conduit"


async def test_a_restart_reassigns_shards_without_subscribing_again(
    aiohttp_client: Callable[..., Any], settings_env: dict[str, str], twitch: Any
) -> None:
    fake, base = twitch
    first = await conduit_app(aiohttp_client, settings_env, base)
    await ready(first, fake)
    created = [c for c in fake.calls if c[0] in ("create_subscription", "create_conduit")]
    await first.close()
    assert fake.eventsub.shard_states() == ["websocket_disconnected"] * 2
    second = await conduit_app(aiohttp_client, settings_env, base)
    await fake.eventsub.wait_sessions(2)
    await settled(second, fake)
    result = await subscriptions.reconcile(second.app[keys.DB], second.app[keys.TWITCH])
    assert result["missing"] == [] and result["created"] == 0
    assert [c for c in fake.calls if c[0] in ("create_subscription", "create_conduit")] == created
    assert fake.eventsub.shard_states() == ["enabled", "enabled"]


async def test_a_deleted_conduit_is_created_again_with_its_subscriptions(conduit_client: Any, twitch: Any) -> None:
    """Twitch deletes a conduit after 72 h without a shard (or someone does by hand): its subscriptions
    end with it. The next session finds it gone, makes a new one, and the subscriptions follow at once."""
    fake, _ = twitch
    h, reward_id = await ready(conduit_client, fake)
    [old] = list(fake.eventsub.conduits)
    del fake.eventsub.conduits[old]
    for sub in fake.subscriptions.values():
        sub["status"] = "conduit_deleted"
    for session in fake.eventsub.live():
        await fake.eventsub.close(session.id, 4000)
    await until(lambda: len(fake.eventsub.conduits) == 1 and old not in fake.eventsub.conduits)
    [new] = list(fake.eventsub.conduits)
    await settled(conduit_client, fake)

    def moved() -> bool:
        live = [s for s in fake.subscriptions.values() if s["status"] == "enabled"]
        return len(live) == 10 and {s["transport"]["conduit_id"] for s in live} == {new}

    await until(moved)
    await stored(
        conduit_client, await fake.eventsub.notify(REDEMPTION_ADD, USER, event(fake, reward_id, "on_new_conduit"))
    )
    assert await queue_names(conduit_client, h) == ["on_new_conduit"]


async def test_a_conduit_with_other_shard_count_is_resized_to_ours(conduit_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    await ready(conduit_client, fake)
    [conduit] = fake.eventsub.conduits.values()
    fake.eventsub._resize(conduit, 3)  # noqa: SLF001 - as if an earlier CONDUIT_SHARDS=3 had made it
    twitch_client = conduit_client.app[keys.TWITCH]
    twitch_client.conduit_id = None
    await ensure_conduit(twitch_client, 2)
    assert len(conduit.shards) == 2


async def test_failing_sessions_back_off_with_jitter(conduit_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    await ready(conduit_client, fake)
    fake.eventsub.refuse = True  # Twitch's WebSocket service is down
    attempts_before = fake.eventsub.refused
    started = time.monotonic()
    for session in fake.eventsub.live():
        await fake.eventsub.close(session.id, 4000)
    await until(lambda: fake.eventsub.refused - attempts_before >= 2)  # each shard failed once
    await asyncio.sleep(1.0)  # a window to count the tries in
    # Doubling from 0.01 s, each wait between half and all of its ceiling: at most 8 tries a shard in a
    # second (0.005 * (2**8 - 1) > 1). A fixed delay with the same start would make about 130.
    tries = fake.eventsub.refused - attempts_before
    assert 4 <= tries <= 18, tries
    assert time.monotonic() - started >= 1.0
    fake.eventsub.refuse = False
    await settled(conduit_client, fake)


async def test_the_cli_reconciles_the_conduits_subscriptions(conduit_client: Any, twitch: Any) -> None:
    """`twi-overlay subscriptions` from another process finds the same conduit and works as with webhooks."""
    import sys

    fake, _ = twitch
    await ready(conduit_client, fake)
    settings = conduit_client.app[keys.SETTINGS]

    def cli(*args: str) -> Any:
        command = [sys.executable, "-m", "twi_overlay", "subscriptions", *args]
        return run_cli(settings, command, EVENTSUB_TRANSPORT="conduit")

    ok = await asyncio.to_thread(cli)
    assert ok.returncode == 0 and "0 missing, 0 stale" in ok.stdout, ok.stdout + ok.stderr
    gone = next(s for s in fake.subscriptions.values() if s["type"] == REDEMPTION_ADD)
    del fake.subscriptions[gone["id"]]
    applied = await asyncio.to_thread(cli, "--apply")
    assert applied.returncode == 0 and "created 1" in applied.stdout, applied.stdout + applied.stderr
    assert len(fake.eventsub.conduits) == 1  # found, not made again
    [again] = [s for s in fake.subscriptions.values() if s["type"] == REDEMPTION_ADD]
    assert again["transport"] == {"method": "conduit", "conduit_id": next(iter(fake.eventsub.conduits))}


async def test_a_notification_100_times_the_usual_size_goes_through_once(conduit_client: Any, twitch: Any) -> None:
    """A redemption frame is ~1 KB; one of ~100 KB (a long note, many extra fields Twitch may add)
    is stored and processed like any other, on the same socket, which stays up."""
    fake, _ = twitch
    h, reward_id = await ready(conduit_client, fake)
    big = event(fake, reward_id, "big_one")
    big["user_input"] = "x" * 100_000
    big["extra"] = {f"field_{i}": "y" * 100 for i in range(100)}
    sessions = {s.id for s in fake.eventsub.live()}
    await stored(conduit_client, await fake.eventsub.notify(REDEMPTION_ADD, USER, big))
    assert await queue_names(conduit_client, h) == ["big_one"]
    assert {s.id for s in fake.eventsub.live()} == sessions  # no reconnect for it
