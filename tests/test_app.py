"""create_app(): every route documented; Twitch's contexts only when it is configured; tasks started
on the way are cancelled at shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.conftest import admin_headers
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


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    [
        "type",
        "payload",
        "key",
        "aud",
        "title",
        "cost",
        "bind",
        "user_name",
        "note",
        "entry_id",
        "version",
        "settings",
        "limit",
        "code",
        "state",
        "reward_id",
        "user_input",
        "mode",
        "count",
        "name",
        "by",
        "value",
    ]
)
BODIES = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda v: orjson.dumps(v), JSONISH),
    st.builds(lambda d: orjson.dumps(d), st.dictionaries(FIELDS, JSONISH, max_size=5)),
)
QUERIES = st.dictionaries(FIELDS | st.text(min_size=1, max_size=8), st.text(max_size=20), max_size=3)


@hsettings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.integers(min_value=0),
    query=QUERIES,
    body=BODIES,
    content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""]),
    auth=st.sampled_from(["admin", "none", "garbage", "overlay"]),
)
async def test_no_input_to_any_route_gives_a_5xx(
    client: Any, route: int, query: dict[str, str], body: bytes, content_type: str, auth: str
) -> None:
    """Every route the app has, with arbitrary query strings, bodies, media types and credentials."""
    routes = sorted(
        {
            (r.method, r.resource.get_info().get("path") or r.resource.get_info().get("prefix", "") + "/x.js")
            for r in client.app.router.routes()
            if r.method != "HEAD" and r.resource is not None
        }
    )
    method, path = routes[route % len(routes)]
    headers = {"Content-Type": content_type} if content_type else {}
    if auth in ("admin", "overlay"):
        headers.update(admin_headers(aud=auth))
    elif auth == "garbage":
        headers["Authorization"] = "Bearer not-a-token"
    async with client.request(method, path, params=query, data=body, headers=headers, allow_redirects=False) as r:
        if r.status in (502, 503):  # Twitch refused, or is not configured here: said so, not a crash
            assert (await r.json())["error"]["code"] in ("twitch_error", "twitch_not_configured")
        else:
            assert r.status < 500, (
                method,
                path,
                r.status,
                await r.text() if r.content_type != "text/event-stream" else "",
            )
