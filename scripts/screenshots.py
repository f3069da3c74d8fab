"""Screenshots of the overlay, the admin page (the broadcaster's and a moderator's) and the public
queue page for the README
(docs/screenshots/), taken in headless Chromium against a real server with a little demo data.

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import admin_headers  # noqa: E402
from tests.helpers import ServerProcess, delivery, redemption_body  # noqa: E402
from tests.pages_helpers import BROADCASTER, OVERLAY_KEY, chromium, seed  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
BACKDROP = "body { background: radial-gradient(circle at 30% 40%, #3b5b7a, #16202c 60%, #0b0f14) !important; }"


async def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="shots-"))
    seed(tmp / "app.db")
    server = ServerProcess(tmp / "app.db").start()
    try:
        async with aiohttp.ClientSession() as s:
            viewers = [
                ("NightOwl", "ranked duo?"),
                ("pixel_pal", "first time here!"),
                ("Sir_Speedrun", ""),
                ("mocha", "can we play the new map"),
                ("zed_42", "gg"),
            ]
            for i, (name, note) in enumerate(viewers):
                headers, raw = delivery(
                    redemption_body(
                        broadcaster_id=BROADCASTER,
                        reward_id="reward-queue",
                        user_id=str(i),
                        user_name=name,
                        user_input=note,
                    )
                )
                await s.post(server.url + "/eventsub/webhook", data=raw, headers=headers)
            for i in range(3):
                headers, raw = delivery(
                    redemption_body(broadcaster_id=BROADCASTER, reward_id="reward-hug", user_id=f"h{i}")
                )
                await s.post(server.url + "/eventsub/webhook", data=raw, headers=headers)
            await asyncio.sleep(0.5)
            await s.post(
                server.url + "/api/commands",
                headers=admin_headers(BROADCASTER),
                json={"type": "queue.pick", "payload": {"count": 1}},
            )
            await s.post(
                server.url + "/api/commands",
                headers=admin_headers(BROADCASTER),
                json={"type": "counter.set", "payload": {"name": "deaths", "value": 7}},
            )
            await s.post(
                server.url + "/api/commands",
                headers=admin_headers(BROADCASTER),
                json={
                    "type": "settings.update",
                    "payload": {"version": 1, "settings": {"public_page": {"enabled": True, "show_notes": True}}},
                },
            )
        async with chromium() as browser:
            overlay = await browser.new_page(viewport={"width": 1920, "height": 1080})
            await overlay.goto(f"{server.url}/overlay/#key={OVERLAY_KEY}")
            await overlay.wait_for_selector("#picked li")
            await overlay.add_style_tag(content=BACKDROP)
            await asyncio.sleep(0.6)  # let the enter animations finish
            OUT.mkdir(parents=True, exist_ok=True)
            await overlay.screenshot(path=str(OUT / "overlay.png"))
            admin = await browser.new_page(viewport={"width": 1280, "height": 720})
            await admin.goto(server.url + "/_debug/login")
            await admin.wait_for_selector("#queue li")
            await admin.wait_for_function("document.getElementById('overlay-url').placeholder.includes('rotate once')")
            await admin.click("#rotate-key")  # the URL the page then shows on every visit
            await admin.wait_for_function("document.getElementById('overlay-url').value.includes('#key=')")
            await asyncio.sleep(0.3)
            await admin.screenshot(path=str(OUT / "admin.png"), full_page=True)
            moderator = await browser.new_page(viewport={"width": 1280, "height": 560})  # its own cookies
            await moderator.goto(server.url + "/_debug/login?as=moderator")
            await moderator.wait_for_selector("#queue li")
            await moderator.click("#counters li[data-name=deaths] button:has-text('+')")
            await moderator.wait_for_selector("#log li:has-text('Demo_Mod')")  # the log says who
            await moderator.screenshot(path=str(OUT / "admin-moderator.png"), full_page=True)
            public = await browser.new_page(viewport={"width": 390, "height": 640})
            await public.goto(server.url + "/q/demo_streamer")
            await public.wait_for_selector("#entries li")
            await public.fill("#find", "mocha")
            await public.wait_for_selector("#entries li.hit")
            await public.screenshot(path=str(OUT / "public.png"))
    finally:
        server.stop()
    print(f"wrote overlay.png, admin.png, admin-moderator.png and public.png in {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
