"""Threats, one test each: who gets in, what a credential can do, what lies readable."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from tests.helpers import ROOT
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
