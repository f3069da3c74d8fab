"""EventSub subscriptions against the fake Twitch: created with the callback challenge answered by our
own webhook, reconcile diff 0 after apply, stale ones removed, revocation leads to re-subscription."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import pytest

from tests.helpers import delivery, rfc3339_nano
from tests.twitch.helpers import USER, run_cli, sign_in
from twi_overlay import keys, repo
from twi_overlay.ingest.eventsub import HANDLED_TYPES, MODERATOR_TYPES
from twi_overlay.twitch import subscriptions

WANTED = sorted([*HANDLED_TYPES, *MODERATOR_TYPES])  # the grant has moderation:read


async def settle(client: Any, fake: Any) -> None:
    for _ in range(50):  # the reconcile after sign-in runs in the background
        await asyncio.sleep(0.02)
        await fake.settle()
        if len(fake.subscriptions) >= len(WANTED):
            break
    await fake.settle()


async def test_sign_in_creates_every_subscription_and_the_challenge_is_answered(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    session = await sign_in(app_client)
    await settle(app_client, fake)
    subs = list(fake.subscriptions.values())
    assert sorted(s["type"] for s in subs) == WANTED
    assert {s["status"] for s in subs} == {"enabled"}  # our webhook echoed every signed challenge
    assert {s["transport"]["callback"] for s in subs} == {str(app_client.make_url("/eventsub/webhook"))}
    assert {s["condition"]["broadcaster_user_id"] for s in subs} == {"5550001"}
    r = await app_client.get("/api/subscriptions")
    body = await r.json()
    assert body["missing"] == [] and body["stale"] == [] and body["summary"].startswith("9 enabled")
    again = await (
        await app_client.post("/api/subscriptions/reconcile", headers={"X-CSRF-Token": session["csrf_token"]})
    ).json()
    assert again["missing"] == [] and again["created"] == 0  # diff 0 after apply


async def test_stale_and_failed_subscriptions_are_removed_and_recreated(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    await sign_in(app_client)
    await settle(app_client, fake)
    some = next(iter(fake.subscriptions.values()))
    some["status"] = "notification_failures_exceeded"
    foreign = {
        "id": "stale-1",
        "status": "enabled",
        "type": "channel.follow",
        "version": "2",
        "condition": {"broadcaster_user_id": "5550001"},
        "created_at": "x",
        "cost": 1,
        "transport": {"method": "webhook", "callback": str(app_client.make_url("/eventsub/webhook"))},
    }
    fake.subscriptions["stale-1"] = foreign
    other_app = {**foreign, "id": "not-ours", "transport": {"method": "webhook", "callback": "https://elsewhere/cb"}}
    fake.subscriptions["not-ours"] = other_app
    result = await subscriptions.reconcile(app_client.app[keys.DB], app_client.app[keys.TWITCH])
    await fake.settle()
    assert result["deleted"] == 2 and result["created"] == 1
    assert "stale-1" not in fake.subscriptions and "not-ours" in fake.subscriptions  # never touch others'
    assert sorted(s["type"] for s in fake.subscriptions.values() if s["id"] != "not-ours") == WANTED
    assert (await subscriptions.diff(app_client.app[keys.DB], app_client.app[keys.TWITCH]))["missing"] == []


async def test_revocation_leads_to_resubscription(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    await sign_in(app_client)
    await settle(app_client, fake)
    sub = next(iter(fake.subscriptions.values()))
    revoked = {**sub, "status": "notification_failures_exceeded"}
    del fake.subscriptions[sub["id"]]  # Twitch drops a revoked subscription
    secret = app_client.app[keys.SETTINGS].webhook_secret
    headers, raw = delivery({"subscription": revoked}, "revocation", secret=secret, timestamp=rfc3339_nano())
    assert (await app_client.post("/eventsub/webhook", data=raw, headers=headers)).status == 204
    await app_client.app[keys.PROCESSOR].drain()
    result = await subscriptions.reconcile(app_client.app[keys.DB], app_client.app[keys.TWITCH])
    await fake.settle()
    assert result["created"] == 1
    assert sorted(s["type"] for s in fake.subscriptions.values()) == WANTED


async def test_cli_subscriptions_prints_the_diff_and_exits_0_when_empty(
    app_client: Any, twitch: Any, tmp_path: Any
) -> None:

    from tests.helpers import ROOT

    fake, base = twitch
    await sign_in(app_client)
    await settle(app_client, fake)
    settings = app_client.app[keys.SETTINGS]

    def cli(*args: str) -> Any:
        command = [str(ROOT / "scripts" / "make-subscriptions.sh"), *args]
        return run_cli(settings, command, APP_BASE_URL=settings.base_url, WEBHOOK_SECRET=settings.webhook_secret)

    ok = await asyncio.to_thread(cli)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "0 missing, 0 stale" in ok.stdout
    del fake.subscriptions[next(iter(fake.subscriptions))]
    missing = await asyncio.to_thread(cli)
    assert missing.returncode == 1 and "1 missing" in missing.stdout and "missing:" in missing.stdout
    applied = await asyncio.to_thread(cli, "--apply")
    await fake.settle()
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "created 1" in applied.stdout


async def test_authorization_revoked_means_no_resubscription(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    await sign_in(app_client)
    await settle(app_client, fake)
    sub = next(iter(fake.subscriptions.values()))
    fake.subscriptions.clear()  # the user disconnected the app: Twitch revokes everything
    secret = app_client.app[keys.SETTINGS].webhook_secret
    headers, raw = delivery({"subscription": {**sub, "status": "authorization_revoked"}}, "revocation", secret=secret)
    assert (await app_client.post("/eventsub/webhook", data=raw, headers=headers)).status == 204
    await app_client.app[keys.PROCESSOR].drain()
    result = await subscriptions.reconcile(app_client.app[keys.DB], app_client.app[keys.TWITCH])
    assert result["created"] == 0 and fake.subscriptions == {}
    status = await (await app_client.get("/api/oauth/status")).json()
    assert status["needs_reconsent"] is True


async def test_the_hourly_reconcile_logs_success_as_success(
    app_client: Any, twitch: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A pass of the subscriptions loop that succeeds is logged as a success (a log field once named
    `created` clashed with a LogRecord attribute, so every success was logged as a failure)."""
    from twi_overlay.aio import cancel_and_wait

    caplog.set_level(logging.INFO, logger="twi_overlay.twitch.subscriptions")
    await sign_in(app_client)
    await app_client.app[keys.TASKS].join()
    loop = asyncio.create_task(subscriptions.subscriptions_loop(app_client.app[keys.DB], app_client.app[keys.TWITCH]))
    try:
        for _ in range(200):
            said = [r.getMessage() for r in caplog.records if r.name == "twi_overlay.twitch.subscriptions"]
            if said:
                break
            await asyncio.sleep(0.02)
    finally:
        await cancel_and_wait(loop)
    assert said == ["subscriptions reconciled"]


async def test_a_revocation_older_than_the_grant_does_not_flag_it(app_client: Any, twitch: Any) -> None:
    """Revoked, then signed in again at once: the revocation processed after the new sign-in is about
    the old grant. One received after the grant was stored still flags it."""
    import time

    fake, _ = twitch
    revoked_at = time.time()
    await sign_in(app_client)  # the new grant, stored after the revocation was received
    await settle(app_client, fake)
    sub = next(iter(fake.subscriptions.values()))
    late = {"subscription": {**sub, "status": "authorization_revoked"}}
    await app_client.app[keys.DB].write(
        repo.events.insert_one, "late-revocation", "revocation", sub["type"], USER, orjson.dumps(late), revoked_at
    )
    await app_client.app[keys.PROCESSOR].drain()
    status = await (await app_client.get("/api/oauth/status")).json()
    assert status["needs_reconsent"] is False
    secret = app_client.app[keys.SETTINGS].webhook_secret
    headers, raw = delivery(late, "revocation", secret=secret)  # a revocation received now
    assert (await app_client.post("/eventsub/webhook", data=raw, headers=headers)).status == 204
    await app_client.app[keys.PROCESSOR].drain()
    assert (await (await app_client.get("/api/oauth/status")).json())["needs_reconsent"] is True


async def test_waiting_to_sign_in_again_keeps_the_subscriptions_that_work(app_client: Any, twitch: Any) -> None:
    """A refused refresh (needs_reconsent) stops new subscriptions but deletes none: they run on our
    app token and keep delivering redemptions."""
    fake, _ = twitch
    await sign_in(app_client)
    await settle(app_client, fake)
    before = {s["id"] for s in fake.subscriptions.values()}
    fake.revoke_everything()  # the broadcaster's refresh token is refused from now on
    await app_client.app[keys.TWITCH].validate_all()
    assert (await (await app_client.get("/api/oauth/status")).json())["needs_reconsent"] is True
    result = await subscriptions.reconcile(app_client.app[keys.DB], app_client.app[keys.TWITCH])
    assert (result["created"], result["deleted"]) == (0, 0)
    assert {s["id"] for s in fake.subscriptions.values()} == before


async def test_a_reconcile_that_fails_is_tried_again_soon_not_in_an_hour(
    app_client: Any, twitch: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from twi_overlay.aio import cancel_and_wait

    fake, _ = twitch
    caplog.set_level(logging.INFO, logger="twi_overlay.twitch.subscriptions")
    await sign_in(app_client)
    await app_client.app[keys.TASKS].join()
    fake.subscriptions.clear()
    fake.down = True  # Twitch is down when the server starts
    before = len(caplog.records)  # the app's own loop has logged its start-up pass
    loop = asyncio.create_task(
        subscriptions.subscriptions_loop(app_client.app[keys.DB], app_client.app[keys.TWITCH], 0.01, 0.01)
    )
    try:
        for _ in range(500):
            said = [r.getMessage() for r in caplog.records[before:] if r.name == "twi_overlay.twitch.subscriptions"]
            if said and fake.down:
                fake.down = False  # back after the first failed pass
            if "subscriptions reconciled" in said:
                break
            await asyncio.sleep(0.01)
    finally:
        await cancel_and_wait(loop)
    assert said[0].startswith("reconciling subscriptions failed") and said[-1] == "subscriptions reconciled"
    await fake.settle()
    assert len(fake.subscriptions) > 0
