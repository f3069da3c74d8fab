"""The moderator list from Twitch: every page of Get Moderators after a sign-in, kept current by the
channel.moderator.add / .remove events; a grant without moderation:read is left alone."""

from __future__ import annotations

from typing import Any

from tests.twitch.helpers import USER, after_sign_in, deliver_moderator_event, sign_in
from twi_overlay import keys, repo
from twi_overlay.ingest.eventsub import MODERATOR_ADD, MODERATOR_REMOVE, MODERATOR_TYPES
from twi_overlay.twitch import moderators, subscriptions


async def logins(client: Any) -> list[str]:
    return [m.user_login for m in await client.app[keys.DB].read(repo.moderators.of_broadcaster, USER)]


async def test_every_page_is_read_at_sign_in_and_the_events_keep_it_current(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    mods = [fake.add_moderator(f"mod_{i:03d}") for i in range(250)]  # three pages of 100
    await sign_in(app_client)
    await after_sign_in(app_client)
    assert await logins(app_client) == sorted(m["user_login"] for m in mods)
    # Three pages of 100 (the start-up's hourly pass may have read them too: each read is whole).
    pages = [c[1] for c in fake.calls if c[0] == "get_moderators"]
    assert set(pages) == {"0", "100", "200"} and len(pages) % 3 == 0
    newcomer = {"user_id": "9999", "user_login": "newcomer", "user_name": "Newcomer"}
    await deliver_moderator_event(app_client, MODERATOR_ADD, newcomer)
    await deliver_moderator_event(app_client, MODERATOR_REMOVE, mods[0])
    found = await logins(app_client)
    assert "newcomer" in found and "mod_000" not in found and len(found) == 250
    # The hourly pass puts the list back to what Twitch says.
    fake.moderators[USER] = mods[:2]
    added, removed = await moderators.sync(app_client.app[keys.DB], app_client.app[keys.TWITCH], USER) or ([], [])
    assert added == [mods[0]["user_id"]] and "9999" in removed
    assert await logins(app_client) == ["mod_000", "mod_001"]


async def test_a_grant_without_moderation_read_is_left_alone(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    await sign_in(app_client)
    await after_sign_in(app_client)
    db = app_client.app[keys.DB]
    grant = await db.read(repo.tokens.get, USER)
    older = ("channel:read:redemptions", "channel:manage:redemptions")  # a consent from before it was asked
    await db.write(repo.tokens.store, USER, grant.access_token, grant.refresh_token, grant.expires_at, older)
    fake.add_moderator("someone")
    calls = len(fake.calls)
    assert await moderators.sync(db, app_client.app[keys.TWITCH], USER) is None
    await moderators.sync_all(db, app_client.app[keys.TWITCH])
    assert [c for c in fake.calls[calls:] if c[0] == "get_moderators"] == []
    assert await logins(app_client) == []
    # Its moderator subscriptions are neither wanted nor made; the others are.
    found = await subscriptions.diff(db, app_client.app[keys.TWITCH])
    assert not {m["type"] for m in found["missing"]} & set(MODERATOR_TYPES)


async def test_the_admin_page_lists_the_moderators(app_client: Any, twitch: Any) -> None:
    fake, _ = twitch
    fake.add_moderator("Helper_One")
    await sign_in(app_client)
    await after_sign_in(app_client)
    body = await (await app_client.get("/api/moderators")).json()
    assert body == {"data": [{"user_login": "helper_one", "user_name": "Helper_One"}], "complete": True}
