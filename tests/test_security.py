"""Threats, one test each: who gets in, what a credential can do, what lies readable."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import aiohttp
import pytest

from tests.helpers import BROADCASTER, ROOT
from tests.test_config import GOOD_PROD


@pytest.mark.parametrize("profile", ["stg", "staging", "test", "dev", "prod", "Production", "DEVELOPMENT"])
def test_only_the_two_exact_profiles_start(profile: str) -> None:
    """Anything but `development` or `production` stops start-up: it was read as development, whose
    unauthenticated login makes anyone an admin."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    proc = subprocess.run(
        [sys.executable, "-m", "twi_overlay", "serve"],
        env={**base, **GOOD_PROD, "APP_ENV": profile},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert "APP_ENV" in line and "production" in line


async def test_an_idempotency_key_means_one_request(client: Any) -> None:
    """The same key with another command or payload is refused, not answered with the first answer."""
    from tests.conftest import admin_headers

    h = {**admin_headers(), "Idempotency-Key": "k-1"}
    first = await client.post("/api/commands", headers=h, json={"type": "counter.increment", "payload": {"name": "a"}})
    assert first.status == 200
    again = await client.post("/api/commands", headers=h, json={"type": "counter.increment", "payload": {"name": "a"}})
    assert again.status == 200 and (await again.json())["replayed"] is True
    for other in (
        {"type": "counter.increment", "payload": {"name": "b"}},
        {"type": "counter.reset", "payload": {"name": "a"}},
    ):
        r = await client.post("/api/commands", headers=h, json=other)
        assert r.status == 422 and (await r.json())["error"]["code"] == "idempotency_key_reused"
    state = await (await client.get("/api/state", headers=admin_headers())).json()
    assert state["counters"] == {"a": 1}


async def _stream_token(client: Any, body: dict[str, Any], headers: dict[str, str] | None = None) -> str:
    r = await client.post("/api/sse-token", json=body, headers=headers or {})
    assert r.status == 200, await r.text()
    return str((await r.json())["token"])


async def test_rotating_the_overlay_key_ends_its_streams_and_refuses_its_tokens(client: Any) -> None:
    from tests.conftest import admin_headers
    from tests.sse_client import connect
    from tests.web.helpers import error

    old = (await (await client.post("/api/overlay-key", headers=admin_headers())).json())["key"]
    old_token = await _stream_token(client, {"key": old})
    overlay = await connect(client.session, str(client.make_url("/overlay/sse")), old_token)
    assert (await overlay.next_event()).event == "state.replace"
    new = (await (await client.post("/api/overlay-key", headers=admin_headers())).json())["key"]
    assert await overlay.ends()  # the open overlay stops now, not when its token expires
    again = await client.get(f"/overlay/sse?token={old_token}")
    await error(again, 401, "overlay_key_rotated")
    fresh = await connect(
        client.session, str(client.make_url("/overlay/sse")), await _stream_token(client, {"key": new})
    )
    assert fresh.response.status == 200 and (await fresh.next_event()).event == "state.replace"
    fresh.response.close()


async def test_a_stream_token_opens_a_stream_and_nothing_else(client: Any) -> None:
    from tests.conftest import admin_headers
    from tests.sse_client import connect
    from tests.web.helpers import error

    token = await _stream_token(client, {"aud": "admin"}, admin_headers())
    stream = await connect(client.session, str(client.make_url("/admin/sse")), token)
    assert stream.response.status == 200
    stream.response.close()
    h = {"Authorization": f"Bearer {token}"}
    r = await client.post("/api/commands", headers=h, json={"type": "counter.increment", "payload": {"name": "x"}})
    await error(r, 401, "stream_token")
    await error(await client.post("/api/overlay-key", headers=h), 401, "stream_token")


async def test_signing_out_ends_that_sessions_streams_and_everywhere_ends_all(client: Any) -> None:
    from tests.sse_client import connect
    from tests.web.helpers import error

    async def signed_in(session: aiohttp.ClientSession) -> tuple[dict[str, str], Any, str]:
        async with session.get(str(client.make_url("/_debug/login")), allow_redirects=False) as r:
            assert r.status == 302
        async with session.get(str(client.make_url("/api/session"))) as r:
            csrf = {"X-CSRF-Token": (await r.json())["csrf_token"]}
        async with session.post(str(client.make_url("/api/sse-token")), json={"aud": "admin"}, headers=csrf) as r:
            token = (await r.json())["token"]
        stream = await connect(session, str(client.make_url("/admin/sse")), token)
        assert (await stream.next_event()).event == "state.replace"
        return csrf, stream, token

    jar = aiohttp.CookieJar(unsafe=True)
    async with (
        aiohttp.ClientSession(cookie_jar=jar) as laptop,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as phone,
    ):
        csrf_a, stream_a, token_a = await signed_in(laptop)
        csrf_b, stream_b, _ = await signed_in(phone)
        async with laptop.post(str(client.make_url("/api/logout")), headers=csrf_a) as r:
            assert r.status == 200
        assert await stream_a.ends()
        async with laptop.get(str(client.make_url(f"/admin/sse?token={token_a}"))) as r:
            assert r.status == 401 and (await r.json())["error"]["code"] == "signed_out"
        assert not await stream_b.ends()  # the other device stays signed in
        async with phone.post(str(client.make_url("/api/logout")), json={"everywhere": True}, headers=csrf_b) as r:
            assert r.status == 200
        assert await stream_b.ends()
        async with phone.get(str(client.make_url("/api/state"))) as r:
            await error(r, 401)


async def test_a_broadcaster_has_at_most_so_many_streams(aiohttp_client: Any, settings_env: dict[str, str]) -> None:
    from tests.conftest import add_broadcaster
    from tests.sse_client import connect, token
    from tests.web.helpers import error
    from twi_overlay import keys
    from twi_overlay.app import create_app
    from twi_overlay.config import load_settings

    client = await aiohttp_client(create_app(load_settings({**settings_env, "SSE_MAX_STREAMS_PER_BROADCASTER": "2"})))
    await client.app[keys.DB].write(add_broadcaster)
    url = str(client.make_url("/overlay/sse"))
    held = [await connect(client.session, url, token()) for _ in range(2)]
    assert [s.response.status for s in held] == [200, 200]
    third = await client.get(f"/overlay/sse?token={token()}")
    await error(third, 429, "too_many_streams")
    held[0].response.close()
    await asyncio.sleep(0)  # the server notices the closed stream on its next read
    for _ in range(100):
        if client.app[keys.HUB].streams_of(BROADCASTER) < 2:
            break
        await asyncio.sleep(0.01)
    again = await connect(client.session, url, token())
    assert again.response.status == 200
    again.response.close()
    held[1].response.close()


async def test_a_sign_in_outside_the_allow_list_is_refused_and_nothing_is_stored(
    aiohttp_client: Any, settings_env: dict[str, str], twitch: Any
) -> None:
    from yarl import URL

    from tests.conftest import twitch_app
    from twi_overlay import keys

    client = await twitch_app(aiohttp_client, settings_env, twitch[1], ALLOWED_BROADCASTERS="someone_else,12345")
    r = await client.get("/oauth/login", allow_redirects=False)
    async with client.session.get(r.headers["Location"], allow_redirects=False) as consent:
        callback = consent.headers["Location"]
    assert URL(callback).query.get("code")
    r = await client.session.get(callback, allow_redirects=False)
    assert r.status == 403 and "text/html" in r.headers["Content-Type"]
    assert "ALLOWED_BROADCASTERS" in await r.text() and "twi_session" not in r.cookies
    stored = await client.app[keys.DB].read(
        lambda tx: [tx.value(f"SELECT count(*) FROM {t}") for t in ("broadcasters", "sessions")]  # noqa: S608
    )
    assert stored == [0, 0]  # no broadcaster row, so no tokens either (they live on it)
    assert (await (await client.get("/api/session")).json())["signed_in"] is False


async def test_the_allow_list_takes_logins_in_any_case_and_ids(
    aiohttp_client: Any, settings_env: dict[str, str], twitch: Any
) -> None:
    from tests.conftest import twitch_app
    from tests.twitch.helpers import sign_in

    for allowed in ("REAL_Streamer", "5550001", "*"):
        client = await twitch_app(aiohttp_client, settings_env, twitch[1], ALLOWED_BROADCASTERS=allowed)
        assert (await sign_in(client))["signed_in"] is True
        await client.close()


async def test_what_touches_every_tenant_is_for_operators(
    aiohttp_client: Any, settings_env: dict[str, str], twitch: Any
) -> None:
    """A signed-in broadcaster who is not an operator can run neither the TTL job nor a reconcile of
    every channel's subscriptions, sees only their own subscriptions and only their own tap."""
    from tests.conftest import add_broadcaster, admin_headers, twitch_app
    from tests.twitch.helpers import sign_in
    from tests.web.helpers import error
    from twi_overlay import keys

    fake, base = twitch
    client = await twitch_app(aiohttp_client, settings_env, base, OPERATORS="the_operator")
    session = await sign_in(client)
    h = {"X-CSRF-Token": session["csrf_token"]}
    await error(await client.post("/api/maintenance", headers=h), 403, "operator_only")
    await error(await client.post("/api/subscriptions/reconcile", headers=h), 403, "operator_only")
    await client.app[keys.TASKS].join()
    await fake.settle()
    # Another channel's subscription on the same app: its id is not shown to this broadcaster.
    other = next(iter(fake.subscriptions.values()))
    fake.subscriptions["foreign"] = {**other, "id": "foreign", "condition": {"broadcaster_user_id": "999"}}
    listed = await (await client.get("/api/subscriptions")).json()
    assert "foreign" not in listed["stale"] and "foreign" not in {s["id"] for s in listed["data"]}
    # The operator (by login) may, and sees every channel's stale subscriptions.
    await client.app[keys.DB].write(add_broadcaster, "777", "the_operator")
    op = admin_headers("777")
    assert (await client.post("/api/maintenance", headers=op)).status == 200
    listed = await (await client.get("/api/subscriptions", headers=op)).json()
    assert "foreign" in listed["stale"]


async def test_broadcaster_a_cannot_see_or_touch_broadcaster_b(client: Any) -> None:
    """With A's admin token, every route that names or implies B's things answers about A only."""
    from tests.conftest import add_broadcaster, admin_headers
    from tests.web.helpers import error
    from twi_overlay import keys

    a, b = "100", "200"
    await client.app[keys.DB].write(add_broadcaster, a, "alice")
    await client.app[keys.DB].write(add_broadcaster, b, "bob")
    ha, hb = admin_headers(a), admin_headers(b)

    async def run(h: dict[str, str], type_: str, payload: dict[str, Any]) -> Any:
        return await client.post("/api/commands", headers=h, json={"type": type_, "payload": payload})

    r = await run(hb, "queue.enqueue", {"user_name": "bobs_viewer"})
    b_entry = (await r.json())["data"]["entry"]["id"]
    await run(hb, "counter.set", {"name": "bobs", "value": 7})
    for type_, payload in (
        ("queue.complete", {"entry_id": b_entry}),
        ("queue.cancel", {"entry_id": b_entry}),
        ("queue.move", {"entry_id": b_entry, "position": 1}),
        ("redemption.retry", {"redemption_id": "redemption-of-b"}),
    ):
        await error(await run(ha, type_, payload), 404)
    # The same Idempotency-Key in two channels is two requests, not a replay of the other's answer.
    key = {"Idempotency-Key": "shared-key"}
    first = await client.post(
        "/api/commands", headers={**hb, **key}, json={"type": "counter.increment", "payload": {"name": "x"}}
    )
    mine = await client.post(
        "/api/commands", headers={**ha, **key}, json={"type": "counter.increment", "payload": {"name": "x"}}
    )
    assert first.status == mine.status == 200 and "replayed" not in await mine.json()
    state_a = await (await client.get("/api/state", headers=ha)).json()
    assert state_a["queue"] == [] and state_a["counters"] == {"x": 1} and state_a["broadcaster"]["id"] == a
    for path in ("/api/history", "/api/twitch-updates/failed", "/api/commands", "/api/rewards"):
        body = await (await client.get(path, headers=ha)).text()
        assert "bobs" not in body, path
    state_b = await (await client.get("/api/state", headers=hb)).json()
    assert [e["id"] for e in state_b["queue"]] == [b_entry] and state_b["counters"] == {"bobs": 7, "x": 1}
    # A's overlay key opens A's stream only; rotating it leaves B's key alone.
    key_b = (await (await client.post("/api/overlay-key", headers=hb)).json())["key"]
    await client.post("/api/overlay-key", headers=ha)
    assert (await client.post("/api/sse-token", json={"key": key_b})).status == 200


def test_the_database_and_its_wal_are_readable_by_their_owner_only(tmp_path: Any) -> None:
    """They hold OAuth tokens: created 0600 by `migrate` and by `serve`, whatever the umask."""
    from tests.helpers import ServerProcess, seed_db

    old = os.umask(0o022)
    try:
        migrated = tmp_path / "migrated" / "app.db"
        base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
        proc = subprocess.run(
            [sys.executable, "-m", "twi_overlay", "migrate"],
            env={**base, "DATABASE_URL": f"sqlite://{migrated}"},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert oct(migrated.stat().st_mode & 0o777) == "0o600"
        served = tmp_path / "served" / "app.db"
        served.parent.mkdir()
        seed_db(served)
        served.chmod(0o600)  # as migrate left it
        server = ServerProcess(served).start()
        try:
            import urllib.request

            urllib.request.urlopen(server.url + "/healthz", timeout=10).read()  # it has written: WAL and shm exist
            files = [served, served.with_name("app.db-wal"), served.with_name("app.db-shm")]
            assert {f.name: oct(f.stat().st_mode & 0o777) for f in files} == {f.name: "0o600" for f in files}
        finally:
            server.stop()
    finally:
        os.umask(old)
