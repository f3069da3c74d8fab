"""A channel's moderators sign in with Twitch (no scopes) and run the queue and counters, nothing else;
who ran each command is in the log; a stranger gets nowhere, and the broadcaster can turn it off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.conftest import update_settings
from tests.twitch.helpers import USER, Browser, after_sign_in, moderator_sign_in, sign_in
from tests.web.helpers import error
from twi_overlay import keys, repo


@pytest.fixture
async def channel(app_client: Any, twitch: Any) -> dict[str, str]:
    """The broadcaster signed in, with Mod_Ann as a moderator on Twitch: their CSRF header."""
    fake, _ = twitch
    fake.add_moderator("Mod_Ann")
    session = await sign_in(app_client)
    await after_sign_in(app_client)  # the moderator list is read after the sign-in
    return {"X-CSRF-Token": session["csrf_token"]}


@pytest.fixture
async def browser(app_client: Any) -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield Browser(app_client, session)


async def test_a_moderator_signs_in_without_scopes_and_nothing_of_their_token_is_kept(
    app_client: Any, twitch: Any, channel: dict[str, str], browser: Browser
) -> None:
    fake, _ = twitch
    r = await moderator_sign_in(browser, fake, "mod_ann")
    assert r.status == 302 and r.headers["Location"] == "/admin/", await r.text()
    me = await (await browser.get("/api/session")).json()
    assert me["role"] == "moderator" and me["user_name"] == "Mod_Ann" and me["broadcaster_id"] == USER
    assert me["operator"] is False  # never, whatever OPERATORS says about the channel
    await app_client.app[keys.TASKS].join()
    mod_id = fake.people and next(i for i, u in fake.people.items() if u["login"] == "mod_ann")
    assert fake.revoked == [mod_id]  # Twitch was told to forget the token
    db = app_client.app[keys.DB]
    assert await db.read(repo.tokens.get, mod_id) is None and not await db.read(repo.broadcasters.exists, mod_id)


async def test_a_moderator_runs_the_queue_and_counters_and_the_log_names_them(
    app_client: Any, twitch: Any, channel: dict[str, str], browser: Browser
) -> None:
    await moderator_sign_in(browser, twitch[0], "mod_ann")
    r = await browser.command("queue.enqueue", {"user_name": "walk_in", "note": "hi"})
    assert r.status == 200, await r.text()
    entry_id = (await r.json())["data"]["entry"]["id"]
    for type_, payload in (
        ("queue.pick", {}),
        ("queue.complete", {"entry_id": entry_id}),
        ("counter.increment", {"name": "deaths"}),
        ("counter.set", {"name": "deaths", "value": 5}),
    ):
        r = await browser.command(type_, payload)
        assert r.status == 200, (type_, await r.text())
    state = await (await browser.get("/api/state")).json()
    version = state["settings"]["version"]
    r = await browser.command("settings.update", {"version": version, "settings": {"queue": {"open": False}}})
    assert r.status == 200, await r.text()
    assert state["counters"] == {"deaths": 5}
    log = (await (await app_client.get("/api/commands")).json())["data"]
    assert [row["actor"] for row in log[:6]] == ["Mod_Ann"] * 6
    assert (await (await browser.get("/api/history")).json())["data"][0]["user_name"] == "walk_in"
    # The broadcaster's own commands carry their name.
    await app_client.post(
        "/api/commands", json={"type": "counter.increment", "payload": {"name": "x"}}, headers=channel
    )
    assert (await (await app_client.get("/api/commands")).json())["data"][0]["actor"] == "Real_Streamer"


async def test_a_moderator_cannot_touch_keys_settings_rewards_twitch_or_maintenance(
    app_client: Any, twitch: Any, channel: dict[str, str], browser: Browser
) -> None:
    await moderator_sign_in(browser, twitch[0], "mod_ann")
    version = (await (await browser.get("/api/state")).json())["settings"]["version"]
    for type_, payload in (
        ("settings.update", {"version": version, "settings": {"queue": {"max_length": 5}}}),
        ("settings.update", {"version": version, "settings": {"queue": {"open": True, "max_length": 5}}}),
        ("settings.update", {"version": version, "settings": {"moderators": {"enabled": True}}}),
        ("settings.update", {"version": version, "settings": {"rewards": {"r": "queue"}}}),
        ("queue.clear", {"mode": "cancel"}),  # a mass refund is the broadcaster's
        ("redemption.retry", {"redemption_id": "x"}),
    ):
        await error(await browser.command(type_, payload), 403, "broadcaster_only")
    for method, path in (
        ("GET", "/api/overlay-key"),
        ("POST", "/api/overlay-key"),
        ("GET", "/api/rewards"),
        ("POST", "/api/rewards"),
        ("GET", "/api/oauth/status"),
        ("GET", "/api/subscriptions"),
        ("POST", "/api/subscriptions/reconcile"),
        ("GET", "/api/moderators"),
        ("POST", "/api/maintenance"),
        ("GET", "/api/twitch-updates/failed"),
        ("POST", "/api/overlay-sound"),
    ):
        r = await (browser.get(path) if method == "GET" else browser.post(path, {}))
        await error(r, 403, "broadcaster_only")
    # Nothing changed: the settings are as they were, and the log holds no refused command of theirs.
    assert (await (await browser.get("/api/state")).json())["settings"]["version"] == version
    # Signing out "everywhere" as a moderator ends their session only, not the broadcaster's.
    assert (await browser.post("/api/logout", {"everywhere": True})).status == 200
    await error(await browser.get("/api/state"), 401)
    assert (await app_client.get("/api/state")).status == 200


async def test_a_stranger_gets_a_page_saying_why_and_no_session(
    app_client: Any, twitch: Any, channel: dict[str, str], browser: Browser
) -> None:
    r = await moderator_sign_in(browser, twitch[0], "random_viewer")
    assert r.status == 403 and "not a moderator" in await r.text()
    assert (await (await browser.get("/api/session")).json())["signed_in"] is False
    # Asking for a channel they do not moderate is the same.
    r = await moderator_sign_in(browser, twitch[0], "mod_ann", channel="someone_else")
    assert r.status == 403


async def test_a_moderator_of_two_channels_chooses_one(
    app_client: Any, twitch: Any, channel: dict[str, str], browser: Browser
) -> None:
    fake, _ = twitch
    mod = next(u for u in fake.people.values() if u["login"] == "mod_ann")
    db = app_client.app[keys.DB]
    await db.write(repo.broadcasters.upsert, "6660001", "other_channel", "Other_Channel")
    await db.write(repo.moderators.add, "6660001", repo.moderators.Moderator(mod["id"], "mod_ann", "Mod_Ann"))
    r = await moderator_sign_in(browser, fake, "mod_ann")
    page = await r.text()
    assert r.status == 200 and "channel=other_channel" in page and "channel=real_streamer" in page
    r = await moderator_sign_in(browser, fake, "mod_ann", channel="other_channel")
    assert r.status == 302
    assert (await (await browser.get("/api/session")).json())["broadcaster_id"] == "6660001"


async def test_turned_off_moderators_are_signed_out_and_cannot_sign_in(
    app_client: Any, twitch: Any, channel: dict[str, str], browser: Browser
) -> None:
    await moderator_sign_in(browser, twitch[0], "mod_ann")
    assert (await browser.get("/api/state")).status == 200
    await update_settings(app_client, channel, moderators={"enabled": False})
    await error(await browser.get("/api/state"), 401)
    assert (await moderator_sign_in(browser, twitch[0], "mod_ann")).status == 403
    await update_settings(app_client, channel, moderators={"enabled": True})
    assert (await moderator_sign_in(browser, twitch[0], "mod_ann")).status == 302


async def test_bad_sign_in_requests_are_refused(app_client: Any, channel: dict[str, str]) -> None:
    for query in ("?as=operator", "?channel=real_streamer", "?as=moderator&channel=Not%20A%20Login"):
        await error(await app_client.get("/oauth/login" + query, allow_redirects=False), 400, "invalid_request")
