from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

# Imported now, not by its pytest plugin at the session's end: that deep in the stack CPython 3.11.7 can
# fail to compile it ("AST constructor recursion depth mismatch").
import hypothesis  # noqa: F401
import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.fake_twitch import CLIENT_ID, CLIENT_SECRET, FakeTwitch
from tests.helpers import BROADCASTER, SECRET, SIGNING_KEY, free_port, process_state
from twi_overlay import keys, repo
from twi_overlay.app import create_app
from twi_overlay.config import load_settings
from twi_overlay.domain.settings import load as load_bsettings
from twi_overlay.store.database import Database
from twi_overlay.store.migrate import migrate
from twi_overlay.web.auth import mint_token

# Every process a test starts inherits this marker, however far it is detached (a new session, a daemon
# a script started with nohup): that is how a process left running is found after the test.
RUN_MARKER = f"TWI_TEST_RUN={uuid.uuid4()}"
os.environ["TWI_TEST_RUN"] = RUN_MARKER.split("=", 1)[1]


def _marked_processes() -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if RUN_MARKER.encode() not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if process_state(int(entry.name)) not in (None, "Z"):
            found[int(entry.name)] = cmdline.strip()
    return found


@pytest.fixture(autouse=True)
def nothing_left_running() -> Iterator[None]:
    """A test ends with every process it started gone: one still alive (after a grace period for
    processes that are exiting) is killed and fails the test."""
    yield
    deadline = time.monotonic() + 10
    while (left := _marked_processes()) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, f"processes still running after the test: {left}"


@pytest.fixture
def settings_env(tmp_path: Path) -> dict[str, str]:
    return {
        "APP_ENV": "development",
        "DATABASE_URL": f"sqlite://{tmp_path / 'app.db'}",
        "WEBHOOK_SECRET": SECRET,
        "SSE_TOKEN_SIGNING_KEY": SIGNING_KEY,
        "SSE_HEARTBEAT_SECS": "25",
    }


@pytest.fixture
def settings(settings_env: dict[str, str]):  # type: ignore[no-untyped-def]
    return load_settings(settings_env)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    path = str(tmp_path / "domain.db")
    migrate(path)
    published: list[Any] = []
    database = Database(path, on_events=published.extend)
    database.published = published  # type: ignore[attr-defined]
    await database.open()
    yield database
    await database.close()


def add_broadcaster(tx: Any, bid: str = BROADCASTER, login: str = "cool_user") -> None:
    repo.broadcasters.upsert(tx, bid, login, login.title())
    load_bsettings(tx, bid)


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], settings: Any) -> TestClient:
    """The real app from the factory, on a real loopback port, with one known broadcaster."""
    app = create_app(settings)
    cli = await aiohttp_client(app)
    await app[keys.DB].write(add_broadcaster)
    return cli


def admin_headers(bid: str = BROADCASTER, aud: str = "admin", ttl: int = 300, key: str = SIGNING_KEY) -> dict[str, str]:
    token, _ = mint_token(key, aud, bid, ttl)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def twitch(aiohttp_server: Callable[..., Any]) -> tuple[FakeTwitch, str]:
    fake = FakeTwitch()
    server = await aiohttp_server(fake.app())
    base = str(server.make_url("")).rstrip("/")
    fake.eventsub.twitch_base = "ws" + base.removeprefix("http")
    return fake, base


@pytest.fixture
async def app_client(
    aiohttp_client: Callable[..., Any], settings_env: dict[str, str], twitch: tuple[FakeTwitch, str]
) -> Any:
    """The real app configured for the fake Twitch (its Helix worker polls fast, backs off briefly)."""
    return await twitch_app(aiohttp_client, settings_env, twitch[1])


async def twitch_app(aiohttp_client: Callable[..., Any], settings_env: dict[str, str], base: str, **extra: str) -> Any:
    """A test client of the real app pointed at the fake Twitch at `base`, with `extra` settings."""
    port = free_port()
    env = {
        **settings_env,
        "TWITCH_CLIENT_ID": CLIENT_ID,
        "TWITCH_CLIENT_SECRET": CLIENT_SECRET,
        "TWITCH_AUTH_BASE": base + "/oauth2",
        "TWITCH_API_BASE": base + "/helix",
        "OAUTH_REDIRECT_URI": f"http://127.0.0.1:{port}/oauth/callback",
        "PORT": str(port),
        "HELIX_POLL_SECS": "0.05",
        "HELIX_BACKOFF_SECS": "0.01",
        "HELIX_THROTTLE_SECS": "0",
        "APP_BASE_URL": f"http://127.0.0.1:{port}",
        **extra,
    }
    return await aiohttp_client(TestServer(create_app(load_settings(env)), port=port))


async def update_settings(client: Any, headers: dict[str, str], **sections: Any) -> dict[str, Any]:
    """settings.update at the current version (read first), as the admin page does; asserts 200."""
    state = await (await client.get("/api/state", headers=headers)).json()
    r = await client.post(
        "/api/commands",
        headers=headers,
        json={"type": "settings.update", "payload": {"version": state["settings"]["version"], "settings": sections}},
    )
    assert r.status == 200, await r.text()
    return await r.json()
