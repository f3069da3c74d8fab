"""Each channel's moderator list from Twitch: Get Moderators (every page) with the broadcaster's grant,
after a sign-in and hourly; the channel.moderator.add / .remove events keep it current in between
(domain/moderators.py). A grant without moderation:read (made before it was asked for) leaves the
list as it is until the broadcaster signs in again."""

from __future__ import annotations

import logging

import aiohttp

from twi_overlay import repo
from twi_overlay.domain import moderators as domain_moderators
from twi_overlay.repo.moderators import Moderator
from twi_overlay.store.database import Database, DatabaseClosed
from twi_overlay.twitch.client import MODERATION_READ, Twitch, TwitchError, json_object

log = logging.getLogger(__name__)
PAGE = 100  # Twitch's largest page


async def fetch(twitch: Twitch, broadcaster_id: str) -> list[Moderator]:
    mods: list[Moderator] = []
    cursor: str | None = None
    while True:
        params = {"broadcaster_id": broadcaster_id, "first": str(PAGE)}
        if cursor:
            params["after"] = cursor
        status, body = await twitch.user_helix(broadcaster_id, "GET", "moderation/moderators", params=params)
        if status != 200:
            raise TwitchError(status, str(body.get("message") or "could not list the moderators"))
        for item in body.get("data") or []:
            row = json_object(item)
            if isinstance(row.get("user_id"), str) and row["user_id"]:
                mods.append(
                    Moderator(row["user_id"], str(row.get("user_login") or ""), str(row.get("user_name") or ""))
                )
        cursor = json_object(body.get("pagination")).get("cursor")
        if not cursor:
            return mods


async def sync(db: Database, twitch: Twitch, broadcaster_id: str) -> tuple[list[str], list[str]] | None:
    """The channel's list replaced by Twitch's: (added, removed) user ids; None when it could not run."""
    grant = await db.read(repo.tokens.get, broadcaster_id)
    if grant is None or MODERATION_READ not in grant.scopes:
        return None
    try:
        mods = await fetch(twitch, broadcaster_id)
    except (TwitchError, aiohttp.ClientError, TimeoutError) as exc:
        log.warning("moderators could not be listed", extra={"broadcaster_id": broadcaster_id, "error": str(exc)[:200]})
        return None
    return await db.write(domain_moderators.replace, broadcaster_id, mods)


async def sync_all(db: Database, twitch: Twitch) -> None:
    usable = set(await db.read(repo.broadcasters.with_grant))
    for broadcaster_id in await db.read(repo.broadcasters.with_any_grant_and_scope, MODERATION_READ):
        if broadcaster_id not in usable:
            continue  # waiting to sign in again: the list stays as it was
        try:
            await sync(db, twitch, broadcaster_id)
        except DatabaseClosed:
            raise
        except Exception:
            log.exception("syncing moderators failed", extra={"broadcaster_id": broadcaster_id})
