"""A moderator's admin stream ends the moment they stop being one (Twitch's event, the hourly list, or
the broadcaster turning moderator access off), and its token opens nothing after; others stay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.conftest import update_settings
from tests.sse_client import SSEStream, connect
from tests.twitch.helpers import USER, Browser, after_sign_in, deliver_moderator_event, moderator_sign_in, sign_in
from twi_overlay import keys
from twi_overlay.ingest.eventsub import MODERATOR_REMOVE
from twi_overlay.twitch import moderators


@pytest.fixture
async def two(app_client: Any, twitch: Any) -> AsyncIterator[tuple[dict[str, str], Browser, Browser]]:
    """The broadcaster (CSRF header) and two moderators signed in, each in their own browser."""
    fake, _ = twitch
    fake.add_moderator("Mod_Ann")
    fake.add_moderator("Mod_Bob")
    session = await sign_in(app_client)
    await after_sign_in(app_client)
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as a,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as b,
    ):
        ann, bob = Browser(app_client, a), Browser(app_client, b)
        assert (await moderator_sign_in(ann, fake, "mod_ann")).status == 302
        assert (await moderator_sign_in(bob, fake, "mod_bob")).status == 302
        yield {"X-CSRF-Token": session["csrf_token"]}, ann, bob


async def admin_stream(browser: Browser) -> tuple[SSEStream, str]:
    r = await browser.post("/api/sse-token", {"aud": "admin"})
    assert r.status == 200, await r.text()
    token = (await r.json())["token"]
    stream = await connect(browser.session, browser.url("/admin/sse"), token)
    assert (await stream.next_event()).event == "state.replace"
    return stream, token


async def refused(browser: Browser, token: str) -> bool:
    r = await browser.get(f"/admin/sse?token={token}")
    return r.status == 401 and (await r.json())["error"]["code"] == "signed_out"


async def test_removed_on_twitch_ends_their_streams_at_once(app_client: Any, twitch: Any, two: Any) -> None:
    fake, _ = twitch
    _, ann, bob = two
    ann_stream, ann_token = await admin_stream(ann)
    bob_stream, _ = await admin_stream(bob)
    await deliver_moderator_event(app_client, MODERATOR_REMOVE, fake.remove_moderator("mod_ann"))
    assert await ann_stream.ends()
    assert await refused(ann, ann_token)
    assert (await ann.get("/api/state")).status == 401
    assert not await bob_stream.ends()  # the other moderator is still one
    assert (await bob.get("/api/state")).status == 200


async def test_gone_from_the_hourly_list_ends_their_streams(app_client: Any, twitch: Any, two: Any) -> None:
    fake, _ = twitch
    _, ann, bob = two
    ann_stream, ann_token = await admin_stream(ann)
    fake.remove_moderator("mod_ann")  # the event was missed; Get Moderators no longer lists them
    await moderators.sync(app_client.app[keys.DB], app_client.app[keys.TWITCH], USER)
    assert await ann_stream.ends()
    assert await refused(ann, ann_token)
    assert (await bob.get("/api/state")).status == 200


async def test_moderator_access_turned_off_ends_every_moderator_stream_only(
    app_client: Any, twitch: Any, two: Any
) -> None:
    csrf, ann, bob = two
    ann_stream, _ = await admin_stream(ann)
    bob_stream, bob_token = await admin_stream(bob)
    token = (await (await app_client.post("/api/sse-token", json={"aud": "admin"}, headers=csrf)).json())["token"]
    own = await connect(app_client.session, str(app_client.make_url("/admin/sse")), token)
    assert (await own.next_event()).event == "state.replace"
    await update_settings(app_client, csrf, moderators={"enabled": False})
    assert await ann_stream.ends() and await bob_stream.ends()
    assert await refused(bob, bob_token)
    assert (await own.next_event()).event == "settings.updated"  # the broadcaster's own stream goes on
    own.close()
