"""The public queue page /q/<login>: off (404) until the streamer opens it; viewers see positions,
names and, if allowed, notes, live, and nothing private; switching it off ends their streams."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.conftest import admin_headers, update_settings
from tests.sse_client import SSEStream
from tests.web.helpers import command, error
from twi_overlay import keys

PRIVATE = ("id", "user_id", "user_login", "redemption_id", "reward_id", "helix_status", "source", "status")


async def open_public(client: Any, login: str = "cool_user") -> SSEStream:
    r = await client.get(f"/q/{login}/sse")
    assert r.status == 200, await r.text()
    return SSEStream(r)


async def snapshot(stream: SSEStream) -> dict[str, Any]:
    frame = await stream.next_event()
    assert frame.event == "public.queue" and frame.id is None
    return dict(frame.data)


async def enqueue(client: Any, name: str, note: str = "") -> None:
    await command(client, "queue.enqueue", {"user_name": name, "note": note})


async def test_the_page_is_404_until_switched_on_and_for_unknown_channels(client: Any) -> None:
    await error(await client.get("/q/cool_user"), 404)
    await error(await client.get("/q/cool_user/sse"), 404)
    await update_settings(client, admin_headers(), public_page={"enabled": True})
    page = await client.get("/q/Cool_User")  # logins in any case
    assert page.status == 200 and page.headers["Cache-Control"] == "public, max-age=300"
    assert "public.js" in await page.text()
    await error(await client.get("/q/nobody_here"), 404)
    await error(await client.get("/q/not a login"), 404)


async def test_viewers_see_positions_and_names_live_and_nothing_private(client: Any) -> None:
    await update_settings(client, admin_headers(), public_page={"enabled": True})
    await enqueue(client, "Viewer_One", "secret note")
    stream = await open_public(client)
    first = await snapshot(stream)
    assert first["channel"] == "Cool_User" and first["open"] is True
    assert first["entries"] == [{"position": 1, "name": "Viewer_One", "playing": False}]  # no note by default
    await enqueue(client, "Viewer_Two")
    await command(client, "queue.pick", {"count": 1})
    later = await snapshot(stream)
    while len(later["entries"]) < 2 or not later["entries"][0]["playing"]:  # changes gather into one
        later = await snapshot(stream)
    assert later["entries"] == [
        {"position": 1, "name": "Viewer_One", "playing": True},
        {"position": 2, "name": "Viewer_Two", "playing": False},
    ]
    for entry in later["entries"]:
        assert not set(entry) & set(PRIVATE)
    stream.close()


async def test_notes_only_when_allowed_and_switching_off_ends_the_streams(client: Any) -> None:
    await update_settings(client, admin_headers(), public_page={"enabled": True, "show_notes": True})
    await enqueue(client, "Viewer_One", "gg")
    stream = await open_public(client)
    assert (await snapshot(stream))["entries"][0]["note"] == "gg"
    await update_settings(client, admin_headers(), public_page={"enabled": False})
    frame = await stream.next_event()
    while frame.event == "public.queue":  # a snapshot from before may still be on its way
        frame = await stream.next_event()
    assert frame.event == "public.off"  # the page says so instead of reconnecting into a 404
    with pytest.raises((EOFError, aiohttp.ClientPayloadError)):
        await stream.next(timeout=5)  # and the stream ends
    await error(await client.get("/q/cool_user/sse"), 404)
    assert client.app[keys.PUBLIC].streams() == 0


async def test_settings_of_the_public_page_are_validated(client: Any) -> None:
    state = await (await client.get("/api/state", headers=admin_headers())).json()
    r = await client.post(
        "/api/commands",
        headers=admin_headers(),
        json={
            "type": "settings.update",
            "payload": {"version": state["settings"]["version"], "settings": {"public_page": {"enabled": "yes"}}},
        },
    )
    body = await error(r, 422, "invalid_value")
    assert body["message"].startswith("settings.public_page.enabled")


async def test_requests_under_q_are_rate_limited(client: Any) -> None:
    statuses = [(await client.get("/q/cool_user")).status for _ in range(15)]
    assert statuses[:10] == [404] * 10 and 429 in statuses[10:]
