"""EventSub subscriptions: what we want for every signed-in broadcaster versus what Twitch has.

Reconciled at start-up, hourly and after a sign-in: missing ones are created on the transport in use
(webhook: callback APP_BASE_URL/eventsub/webhook with our WEBHOOK_SECRET; conduit: our conduit, plus
`conduit.shard.disabled` for it), a 409 means it exists; ours that are failed, revoked, no longer wanted
or on the other transport are deleted. Conduit subscriptions belong to the conduit, not to a session:
a restart finds them enabled and creates nothing. Used by the API, the CLI and
scripts/make-subscriptions.sh."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from twi_overlay import repo
from twi_overlay.ingest.eventsub import BAN, CHAT_MESSAGE, HANDLED_TYPES, MODERATOR_TYPES
from twi_overlay.ops import metrics
from twi_overlay.store.database import Database
from twi_overlay.store.tx import Tx
from twi_overlay.twitch import moderators
from twi_overlay.twitch.client import CHAT_SCOPES, MODERATION_READ, Twitch, TwitchError
from twi_overlay.twitch.conduit import SHARD_DISABLED, ensure_conduit

log = logging.getLogger(__name__)
SUBSCRIPTIONS_INTERVAL_SECS = 3600.0
LIVE_STATUSES = ("enabled", "webhook_callback_verification_pending")


def callback_url(twitch: Twitch) -> str:
    return f"{twitch.settings.base_url}/eventsub/webhook"


async def transport(twitch: Twitch) -> dict[str, str]:
    """The transport new subscriptions get (with the webhook's secret, which Twitch never shows back)."""
    if twitch.settings.conduit:
        conduit_id = await ensure_conduit(twitch, twitch.settings.conduit_shards)
        return {"method": "conduit", "conduit_id": conduit_id}
    return {"method": "webhook", "callback": callback_url(twitch), "secret": twitch.settings.webhook_secret}


def _on(sub: dict[str, Any], wanted: dict[str, str]) -> bool:
    found = sub.get("transport") or {}
    if wanted["method"] == "conduit":
        return found.get("method") == "conduit" and found.get("conduit_id") == wanted["conduit_id"]
    return found.get("method") == "webhook" and found.get("callback") == wanted["callback"]


def desired(
    broadcaster_ids: list[str],
    on: dict[str, str] | None = None,
    client_id: str = "",
    moderators: list[str] | None = None,
    chat: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every handled type for each broadcaster, the moderator events for those whose grant has
    moderation:read (`moderators`), their chat and bans for those with chat commands on and the scopes
    for them (`chat`: broadcaster id -> the account that reads it, their own or their bot), and with the
    conduit, conduit.shard.disabled."""
    wanted = [
        {"type": t, "version": "1", "condition": {"broadcaster_user_id": b}}
        for b in broadcaster_ids
        for t in HANDLED_TYPES
    ]
    wanted += [
        {"type": t, "version": "1", "condition": {"broadcaster_user_id": b}}
        for b in moderators or []
        for t in MODERATOR_TYPES
    ]
    readers = chat or {}
    wanted += [
        {"type": CHAT_MESSAGE, "version": "1", "condition": {"broadcaster_user_id": b, "user_id": reader}}
        for b, reader in readers.items()
    ]
    wanted += [{"type": BAN, "version": "1", "condition": {"broadcaster_user_id": b}} for b in readers]
    if on is not None and on["method"] == "conduit":  # how we learn that Twitch gave up on one of our shards
        wanted.append(
            {
                "type": SHARD_DISABLED,
                "version": "1",
                "condition": {"client_id": client_id, "conduit_id": on["conduit_id"]},
            }
        )
    return wanted


def _key(sub: dict[str, Any]) -> tuple[str, str, str]:
    condition = sub.get("condition") or {}
    subject = str(condition.get("broadcaster_user_id") or condition.get("conduit_id"))
    if condition.get("user_id"):  # chat: read as whom (a new bot is a new subscription)
        subject += "/" + str(condition["user_id"])
    return sub["type"], str(sub.get("version", "1")), subject


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
    on = await transport(twitch)
    client_id = twitch.settings.twitch_client_id
    usable = await db.read(repo.broadcasters.with_grant)
    with_mods = await db.read(repo.broadcasters.with_any_grant_and_scope, MODERATION_READ)
    with_chat = await db.read(_chat_ready)
    usable_ids = set(usable)
    wanted = desired(
        usable,
        on,
        client_id,
        [b for b in with_mods if b in usable_ids],
        {b: reader for b, reader in with_chat.items() if b in usable_ids},
    )
    kept = desired(await db.read(repo.broadcasters.with_any_grant), on, client_id, with_mods, with_chat)
    webhook = {"method": "webhook", "callback": callback_url(twitch)}
    # Ours: on the transport in use, or webhooks to our callback left from before a switch to the conduit.
    have = [s for s in await actual(twitch) if _on(s, on) or _on(s, webhook)]
    live = {_key(s) for s in have if s.get("status") in LIVE_STATUSES and _on(s, on)}
    wanted_keys = {_key(w) for w in kept}
    missing = [w for w in wanted if _key(w) not in live]
    stale = [s for s in have if s.get("status") not in LIVE_STATUSES or _key(s) not in wanted_keys or not _on(s, on)]
    counts: dict[str, int] = {}
    for s in have:
        counts[s.get("status", "?")] = counts.get(s.get("status", "?"), 0) + 1
    for status, n in counts.items():
        metrics.EVENTSUB_SUBSCRIPTIONS.labels(status).set(n)
    return {"missing": missing, "stale": stale, "actual": have, "desired": wanted}


def _chat_ready(tx: Tx) -> dict[str, str]:
    """Channels with chat commands on whose grant has every chat scope (the others wait to re-consent),
    each with the account that reads its chat: its usable chat bot, else its own."""
    ready = set(repo.settings.chat_enabled(tx))
    for scope in CHAT_SCOPES:
        ready &= set(repo.broadcasters.with_any_grant_and_scope(tx, scope))
    readers = {}
    for b in sorted(ready):
        bot = repo.chat_bots.get(tx, b)
        readers[b] = bot.user_id if bot is not None and bot.usable else b
    return readers


def _record(tx: Tx, sub: dict[str, Any]) -> None:
    if not sub.get("condition", {}).get("broadcaster_user_id"):
        return  # the conduit's own subscription: no channel's business
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
    on = await transport(twitch)
    for want in found["missing"]:
        body = {**want, "transport": on}
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
    """Reconcile at start-up and hourly; sooner, with backoff, after a revocation asks for it, after a
    new conduit was created, or after a pass that failed (Twitch down at start-up must not leave us
    without subscriptions for an hour)."""
    last = 0.0
    backoff = first_retry
    failing = False
    while True:
        pending = await db.read(repo.subscriptions.count_resubscribe)
        now = time.time()
        soon = twitch.reconcile_soon.is_set()  # a new conduit: at once (rare, so no backoff)
        if soon or now - last >= SUBSCRIPTIONS_INTERVAL_SECS or ((pending or failing) and now - last >= backoff):
            twitch.reconcile_soon.clear()
            if now - last >= SUBSCRIPTIONS_INTERVAL_SECS:
                await twitch.validate_all()  # start-up and hourly
                await moderators.sync_all(db, twitch)  # the events keep it current in between
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
        try:  # a new conduit asks for its subscriptions at once, not at the next tick
            await asyncio.wait_for(twitch.reconcile_soon.wait(), tick)
        except TimeoutError:
            pass
