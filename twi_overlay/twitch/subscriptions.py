"""EventSub subscriptions: what we want for every signed-in broadcaster versus what Twitch has.

Reconciled at start-up, hourly and after a sign-in: missing ones are created (callback
APP_BASE_URL/eventsub/webhook, our WEBHOOK_SECRET; a 409 means it exists), ours that are failed,
revoked or no longer wanted are deleted. Used by the API, the CLI and scripts/make-subscriptions.sh."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from twi_overlay import repo
from twi_overlay.ingest.eventsub import HANDLED_TYPES
from twi_overlay.ops import metrics
from twi_overlay.store.database import Database
from twi_overlay.store.tx import Tx
from twi_overlay.twitch.client import Twitch, TwitchError

log = logging.getLogger(__name__)
SUBSCRIPTIONS_INTERVAL_SECS = 3600.0
LIVE_STATUSES = ("enabled", "webhook_callback_verification_pending")


def callback_url(twitch: Twitch) -> str:
    return f"{twitch.settings.base_url}/eventsub/webhook"


def desired(broadcaster_ids: list[str]) -> list[dict[str, Any]]:
    return [
        {"type": t, "version": "1", "condition": {"broadcaster_user_id": b}}
        for b in broadcaster_ids
        for t in HANDLED_TYPES
    ]


def _key(sub: dict[str, Any]) -> tuple[str, str, str]:
    return sub["type"], str(sub.get("version", "1")), str(sub.get("condition", {}).get("broadcaster_user_id"))


async def actual(twitch: Twitch) -> list[dict[str, Any]]:
    subs: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"after": cursor} if cursor else None
        status, body = await twitch.app_helix("GET", "eventsub/subscriptions", params=params)
        if status != 200:
            raise TwitchError(status, str(body.get("message", "could not list subscriptions")))
        subs.extend(body.get("data", []))
        cursor = (body.get("pagination") or {}).get("cursor")
        if not cursor:
            return subs


async def diff(db: Database, twitch: Twitch) -> dict[str, Any]:
    # A broadcaster waiting to sign in again (needs_reconsent) gets no new subscriptions, but keeps
    # the ones that still work: they are created with our app token, not with the broadcaster's.
    wanted = desired(await db.read(repo.broadcasters.with_grant))
    kept = desired(await db.read(repo.broadcasters.with_any_grant))
    have = [s for s in await actual(twitch) if s.get("transport", {}).get("callback") == callback_url(twitch)]
    live = {_key(s) for s in have if s.get("status") in LIVE_STATUSES}
    wanted_keys = {_key(w) for w in kept}
    missing = [w for w in wanted if _key(w) not in live]
    stale = [s for s in have if s.get("status") not in LIVE_STATUSES or _key(s) not in wanted_keys]
    counts: dict[str, int] = {}
    for s in have:
        counts[s.get("status", "?")] = counts.get(s.get("status", "?"), 0) + 1
    for status, n in counts.items():
        metrics.EVENTSUB_SUBSCRIPTIONS.labels(status).set(n)
    return {"missing": missing, "stale": stale, "actual": have, "desired": wanted}


def _record(tx: Tx, sub: dict[str, Any]) -> None:
    repo.subscriptions.record(
        tx,
        sub["id"],
        sub.get("condition", {}).get("broadcaster_user_id"),
        sub["type"],
        str(sub.get("version", "1")),
        sub.get("status", ""),
        False,
    )


async def reconcile(db: Database, twitch: Twitch, apply: bool = True) -> dict[str, Any]:
    found = await diff(db, twitch)
    result: dict[str, Any] = {
        "missing": [_key(m) for m in found["missing"]],
        "stale": [s["id"] for s in found["stale"]],
        "created": 0,
        "deleted": 0,
        "applied": apply,
    }
    if not apply:
        return result
    for sub in found["stale"]:
        status, _ = await twitch.app_helix("DELETE", "eventsub/subscriptions", params={"id": sub["id"]})
        if status in (204, 404):
            result["deleted"] += 1
    for want in found["missing"]:
        body = {
            **want,
            "transport": {
                "method": "webhook",
                "callback": callback_url(twitch),
                "secret": twitch.settings.webhook_secret,
            },
        }
        status, answer = await twitch.app_helix("POST", "eventsub/subscriptions", json=body)
        if status == 202 and answer.get("data"):
            result["created"] += 1
            await db.write(_record, answer["data"][0])
        elif status == 409:
            pass  # already there: Twitch says so
        else:
            log.warning("creating a subscription failed", extra={"status": status, "type": want["type"]})
    for sub in found["actual"]:
        if sub not in found["stale"]:
            await db.write(_record, sub)
    return result


def summary(result: dict[str, Any]) -> str:
    return f"{len(result['missing'])} missing, {len(result['stale'])} stale"


async def subscriptions_loop(db: Database, twitch: Twitch, tick: float = 10.0, first_retry: float = 5.0) -> None:
    """Reconcile at start-up and hourly; sooner, with backoff, after a revocation asks for it or after
    a pass that failed (Twitch down at start-up must not leave us without subscriptions for an hour)."""
    last = 0.0
    backoff = first_retry
    failing = False
    while True:
        pending = await db.read(repo.subscriptions.count_resubscribe)
        now = time.time()
        if now - last >= SUBSCRIPTIONS_INTERVAL_SECS or ((pending or failing) and now - last >= backoff):
            if now - last >= SUBSCRIPTIONS_INTERVAL_SECS:
                await twitch.validate_all()  # start-up and hourly
            last = now
            try:
                result = await reconcile(db, twitch)
                await db.write(repo.subscriptions.clear_resubscribe)
                # Not extra={"created": ...}: `created` is a LogRecord attribute, and logging refuses to overwrite it.
                log.info(
                    "subscriptions reconciled",
                    extra={"subscriptions_created": result["created"], "subscriptions_deleted": result["deleted"]},
                )
                backoff, failing = first_retry, False
            except Exception:
                log.exception("reconciling subscriptions failed; retrying with backoff")
                backoff, failing = (min(backoff * 2, 600.0) if failing else backoff), True
        await asyncio.sleep(tick)
