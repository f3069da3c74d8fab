"""create_app(): every route documented; Twitch's contexts only when it is configured; tasks started
on the way are cancelled at shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.helpers import ROOT
from twi_overlay import keys
from twi_overlay.app import create_app, twitch_ctx
from twi_overlay.config import load_settings


def test_every_route_is_documented_in_docs_api(settings_env: dict[str, str]) -> None:
    app = create_app(load_settings({**settings_env, "TWITCH_CLIENT_ID": "id", "TWITCH_CLIENT_SECRET": "s"}))
    documented = (ROOT / "docs" / "api.md").read_text()
    routes = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or f"{info['prefix']}/…"
        routes.add(f"`{route.method} {path}`")
    assert len(routes) >= 25
    assert sorted(r for r in routes if r not in documented) == []


async def test_twitch_runs_only_when_configured(aiohttp_client: Any, settings_env: dict[str, str]) -> None:
    bare = create_app(load_settings(settings_env))
    assert twitch_ctx not in bare.cleanup_ctx
    await aiohttp_client(bare)
    assert bare.get(keys.TWITCH) is None and bare.get(keys.HELIX) is None
    configured = create_app(load_settings({**settings_env, "TWITCH_CLIENT_ID": "id", "TWITCH_CLIENT_SECRET": "s"}))
    assert twitch_ctx in configured.cleanup_ctx


async def test_tasks_started_on_the_way_are_cancelled_at_shutdown(aiohttp_client: Any, settings: Any) -> None:
    client = await aiohttp_client(create_app(settings))
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = client.app[keys.TASKS].spawn(forever(), "forever")
    assert task is not None
    await started.wait()
    await client.close()  # the app's cleanup contexts run
    assert task.cancelled()
    assert client.app[keys.TASKS].spawn(forever(), "too late") is None  # nothing new after shutdown
