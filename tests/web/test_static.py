"""The overlay and the admin page in headless Chromium against the real server process."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import admin_headers
from tests.helpers import ROOT, ServerProcess, delivery, free_port, redemption_body, seed_db
from tests.pages_helpers import BROADCASTER, OVERLAY_KEY, Console, chromium, seed, server_with_fake_twitch

pytestmark = pytest.mark.slow


STATIC = ROOT / "twi_overlay" / "web" / "static"


NETWORK_DOWN = (
    "ERR_CONNECTION_REFUSED",
    "ERR_CONNECTION_RESET",
    "ERR_EMPTY_RESPONSE",
    "ERR_INCOMPLETE_CHUNKED_ENCODING",
    "Failed to load resource",
)


async def webhook(server: ServerProcess, **kw: Any) -> float:
    headers, raw = delivery(redemption_body(broadcaster_id=BROADCASTER, **kw))
    async with aiohttp.ClientSession() as s, s.post(server.url + "/eventsub/webhook", data=raw, headers=headers) as r:
        assert r.status == 204
    return time.monotonic()


async def api(server: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, server.url + path, json=body, headers=admin_headers(BROADCASTER)) as r,
    ):
        return r.status, await r.json()


async def open_overlay(browser: Any, server: ServerProcess) -> tuple[Any, Console]:
    page = await browser.new_page(viewport={"width": 1920, "height": 1080})
    console = Console(page)
    await page.goto(f"{server.url}/overlay/#key={OVERLAY_KEY}")
    await page.wait_for_function("window.twiOverlay && window.twiOverlay.stream.lastId !== null")
    return page, console


async def test_overlay_shows_a_redemption_within_a_second_and_escapes_html(server: ServerProcess) -> None:
    async with chromium() as browser:
        page, console = await open_overlay(browser, server)
        evil_name = "<script>window.__pwned=1</script>"
        evil_note = '<img src=x onerror="window.__pwned=2"><b>bold</b>'
        sent = await webhook(server, reward_id="reward-queue", user_name=evil_name, user_input=evil_note)
        await page.wait_for_selector("#waiting li", timeout=1000)
        assert time.monotonic() - sent < 1.0
        assert await page.text_content("#waiting li .name") == evil_name
        assert await page.text_content("#waiting li .note") == evil_note
        assert await page.locator("#waiting img, #waiting b, #waiting script").count() == 0
        assert await page.evaluate("window.__pwned") is None
        await webhook(server, reward_id="reward-hug", user_id="2")
        await page.wait_for_selector("#counters li")
        assert "hugs" in await page.text_content("#counters")
        assert await page.is_hidden("#badge")
        assert console.unexpected() == []


async def test_overlay_survives_restarts_and_killed_connections_without_reload(server: ServerProcess) -> None:
    async with chromium() as browser:
        page, console = await open_overlay(browser, server)
        await page.evaluate("window.__sameDocument = true")
        await webhook(server, reward_id="reward-queue", user_name="Before", user_id="1")
        await page.wait_for_selector("#waiting li:has-text('Before')")
        for how in ("graceful", "kill -9"):
            if how == "graceful":
                server.terminate()
            else:
                server.kill9()
            await page.wait_for_selector("#badge", state="visible", timeout=10_000)
            server.start()
            name = f"After-{how.replace(' ', '')}"
            await webhook(server, reward_id="reward-queue", user_name=name, user_id=name)
            await page.wait_for_selector(f"#waiting li:has-text('{name}')", timeout=15_000)
            await page.wait_for_selector("#badge", state="hidden")
        assert await page.evaluate("window.__sameDocument") is True  # never reloaded
        names = await page.locator("#waiting li .name").all_text_contents()
        assert names == ["Before", "After-graceful", "After-kill-9"]
        assert console.unexpected(allow=NETWORK_DOWN) == []


async def test_overlay_loaded_before_the_server_is_up_keeps_trying(tmp_path: Path) -> None:
    """OBS often shows a cached copy of the page before the server is back: it must recover alone."""
    seed(tmp_path / "app.db")
    server = ServerProcess(tmp_path / "app.db", port=free_port())  # not started yet

    async def cached(route: Any) -> None:
        path = route.request.url.split(server.url, 1)[1].split("?")[0]
        name = "overlay.html" if path.startswith("/overlay/") else path.rsplit("/", 1)[1]
        types = {"html": "text/html", "css": "text/css", "js": "application/javascript"}
        await route.fulfill(path=str(STATIC / name), content_type=types[name.rsplit(".", 1)[1]])

    try:
        async with chromium() as browser:
            page = await browser.new_page()
            console = Console(page)
            await page.route(lambda url: url.split("#")[0] == f"{server.url}/overlay/", cached)
            await page.route(f"{server.url}/static/*", cached)
            await page.goto(f"{server.url}/overlay/#key={OVERLAY_KEY}")
            await page.wait_for_selector("#badge", state="visible")
            await asyncio.sleep(1.5)  # a few failed attempts while the server is down
            server.start()
            await webhook(server, reward_id="reward-queue", user_name="Late", user_id="9")
            await page.wait_for_selector("#waiting li:has-text('Late')", timeout=15_000)
            assert await page.is_hidden("#badge")
            assert console.unexpected(allow=NETWORK_DOWN) == []
    finally:
        server.stop()


async def test_admin_actions_change_the_overlay(server: ServerProcess) -> None:
    for i, name in enumerate(["Ann", "Bob", "Cid"]):
        await webhook(server, reward_id="reward-queue", user_name=name, user_id=str(i))
    async with chromium() as browser:
        overlay, overlay_console = await open_overlay(browser, server)
        await overlay.wait_for_function("document.querySelectorAll('#waiting li').length === 3")
        admin = await browser.new_page(viewport={"width": 1280, "height": 720})
        admin_console = Console(admin)
        await admin.goto(server.url + "/_debug/login")
        await admin.wait_for_selector("#queue li:has-text('Ann')")
        await admin.wait_for_function("window.twiAdmin && window.twiAdmin.stream.lastId !== null")
        await admin.click("#pick-next")
        await overlay.wait_for_selector("#picked li:has-text('Ann')")
        await admin.click("#queue li:has-text('Cid') button[title='Move up']")
        await overlay.wait_for_function(
            "[...document.querySelectorAll('#waiting .name')].map(n => n.textContent).join() === 'Cid,Bob'"
        )
        await admin.click("#queue li:has-text('Ann') button:has-text('Done')")
        await overlay.wait_for_selector("#picked li", state="detached")
        await admin.click("#queue li:has-text('Bob') button:has-text('Refund')")
        await overlay.wait_for_function("document.querySelectorAll('#waiting li').length === 1")
        # The finished entries show what will be told to Twitch.
        await admin.click("summary")
        await admin.wait_for_selector("#history li:has-text('Bob')")
        assert "Twitch" in await admin.text_content("#history")
        # Counters from the admin page.
        await admin.fill("#counter-name", "deaths")
        await admin.click("#counter-form button")
        await admin.click("#counters li[data-name='deaths'] button:has-text('+')")
        await overlay.wait_for_selector("#counters li:has-text('deaths')")
        await overlay.wait_for_function("document.querySelector('#counters').textContent.includes('deaths1')")
        # Settings: close the queue and switch the theme.
        await admin.uncheck("#s-open")
        await admin.select_option("#s-theme", "light")
        await admin.click("#settings-form button[type=submit]")
        await overlay.wait_for_selector("#queue-state.closed")
        assert await overlay.evaluate("document.body.className") == "theme-light"
        # The live command log shows what happened.
        assert "queue.complete" in await admin.text_content("#log")
        assert admin_console.unexpected() == [] and overlay_console.unexpected() == []


async def test_settings_conflict_is_shown_to_the_user(server: ServerProcess) -> None:
    async with chromium() as browser:
        admin = await browser.new_page(viewport={"width": 1280, "height": 720})
        console = Console(admin)
        await admin.goto(server.url + "/_debug/login")
        await admin.wait_for_selector("#settings-version:has-text('v1')")
        await admin.fill("#s-max-length", "20")
        status, body = await api(
            server,
            "POST",
            "/api/commands",
            {"type": "settings.update", "payload": {"version": 1, "settings": {"queue": {"per_user_limit": 3}}}},
        )
        assert status == 200
        await admin.click("#settings-form button[type=submit]")
        await admin.wait_for_selector("#notice:has-text('changed elsewhere')")
        assert await admin.input_value("#s-per-user") == "3"  # the form shows what is really stored now
        await admin.fill("#s-max-length", "20")
        await admin.click("#settings-form button[type=submit]")
        await admin.wait_for_selector("#settings-status:has-text('saved')")
        status, state = await api(server, "GET", "/api/state")
        assert state["settings"]["queue"]["max_length"] == 20 and state["settings"]["version"] == 3
        assert console.unexpected(allow=("409",)) == []


async def test_admin_overlay_key_rotation_and_login_page(server: ServerProcess) -> None:
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 720})
        console = Console(page)
        await page.goto(server.url + "/admin/")
        await page.wait_for_selector("#login:visible")
        assert await page.is_visible("#dev-login")
        await page.click("#dev-login a")
        await page.wait_for_selector("#app:visible")
        page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
        await page.click("#rotate-key")
        await page.wait_for_function("document.querySelector('#overlay-url').value.includes('/overlay/#key=')")
        url = await page.input_value("#overlay-url")
        overlay = await browser.new_page()
        await overlay.goto(url)
        await overlay.wait_for_function("window.twiOverlay.stream.lastId !== null")
        await page.click("#mock")
        await page.wait_for_selector("#notice:visible")
        assert console.unexpected() == []


async def test_sign_in_with_twitch_and_create_a_reward_from_the_admin_page(tmp_path: Path, aiohttp_server: Any) -> None:
    async with server_with_fake_twitch(tmp_path, aiohttp_server) as (fake, server):
        async with chromium() as browser:
            page = await browser.new_page(viewport={"width": 1280, "height": 720})
            console = Console(page)
            await page.goto(server.url + "/admin/")
            await page.click("text=Sign in with Twitch")
            await page.wait_for_selector("#app:visible")
            assert "Real_Streamer" in await page.text_content("#who")
            await page.wait_for_selector("#oauth-status:has-text('connected')")
            await page.fill("#new-reward-title", "Play with me")
            await page.fill("#new-reward-cost", "300")
            await page.click("#create-reward")
            await page.wait_for_selector("#notice:has-text('Reward created')")
            row = page.locator("#rewards tr", has_text="Play with me")
            await row.wait_for()
            assert "refundable" in await row.text_content()
            assert await row.locator("select").input_value() == "queue"
            assert [r["title"] for r in fake.rewards.values()] == ["Play with me"]
            assert console.unexpected() == []


async def test_a_thousand_entry_queue_moves_and_clears_on_both_pages(tmp_path: Path) -> None:
    """Queue events are deltas: with 1,000 entries a move is a small frame, nobody is dropped, and
    both pages end where the server is."""
    import sqlite3

    db = tmp_path / "app.db"
    seed_db(
        db, BROADCASTER, "demo", {"reward-queue": "queue"}, {"max_length": 1000, "per_user_limit": 1000}, OVERLAY_KEY
    )
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO queue_entries (broadcaster_id, position, status, user_name, user_input, source, enqueued_at)"
            " VALUES (?, ?, 'waiting', ?, ?, 'admin', '2026-12-01T00:00:00Z')",
            [(BROADCASTER, i, f"Viewer{i:04d}", "a song request " * 10) for i in range(1, 1001)],
        )
    srv = ServerProcess(db, port=free_port(), SSE_CLIENT_BUFFER_BYTES="16384").start()
    try:
        async with chromium() as browser:
            overlay, overlay_console = await open_overlay(browser, srv)
            admin = await browser.new_page(viewport={"width": 1280, "height": 720})
            admin_console = Console(admin)
            await admin.goto(srv.url + "/_debug/login")
            await admin.wait_for_function("window.twiAdmin && window.twiAdmin.state.queue.length === 1000")
            await admin.wait_for_function("window.twiAdmin.stream.lastId !== null")
            await admin.click("#queue li:has-text('Viewer1000') button[title='Move up']")
            order = "window.{page}.state.queue.map(e => e.user_name + '@' + e.position)"
            want = [f"Viewer{i:04d}@{i}" for i in range(1, 999)] + ["Viewer1000@999", "Viewer0999@1000"]
            for page, name in ((admin, "twiAdmin"), (overlay, "twiOverlay")):
                await page.wait_for_function(f"{order.format(page=name)}[998] === 'Viewer1000@999'")
                assert await page.evaluate(order.format(page=name)) == want
            assert await admin.locator("#queue li").count() == 1000
            status, state = await api(srv, "GET", "/api/state")
            assert [f"{e['user_name']}@{e['position']}" for e in state["queue"]] == want
            status, answer = await api(
                srv, "POST", "/api/commands", {"type": "queue.clear", "payload": {"mode": "cancel"}}
            )
            assert status == 200 and len(answer["data"]["entries"]) == 1000
            await admin.wait_for_function("document.querySelectorAll('#queue li').length === 0")
            await overlay.wait_for_function("window.twiOverlay.state.queue.length === 0")
            await overlay.wait_for_function("document.querySelectorAll('#waiting li').length === 0")
            async with aiohttp.ClientSession() as s, s.get(srv.url + "/metrics") as r:
                dropped = [
                    line for line in (await r.text()).splitlines() if line.startswith("sse_dropped_clients_total")
                ]
            assert dropped == ["sse_dropped_clients_total 0.0"]
            assert admin_console.unexpected() == [] and overlay_console.unexpected() == []
    finally:
        srv.stop()
