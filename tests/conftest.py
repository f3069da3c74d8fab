from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import BROADCASTER, SECRET, SIGNING_KEY
from twi_overlay import keys, repo
from twi_overlay.app import create_app
from twi_overlay.auth import mint_token
from twi_overlay.config import load_settings
from twi_overlay.db import Database
from twi_overlay.domain.commands import load_settings as load_bsettings
from twi_overlay.migrate import migrate


@pytest.fixture
def settings_env(tmp_path: Path) -> dict[str, str]:
    return {"APP_ENV": "development", "DATABASE_URL": f"sqlite://{tmp_path / 'app.db'}",
            "WEBHOOK_SECRET": SECRET, "SSE_TOKEN_SIGNING_KEY": SIGNING_KEY, "SSE_HEARTBEAT_SECS": "25"}


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
    repo.upsert_broadcaster(tx, bid, login, login.title())
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
