"""Every route says who may call it, and docs/routes.md is generated from that."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from tests.helpers import ROOT
from twi_overlay.web.guards import GUARDS, routes


async def test_every_route_has_a_guard_and_every_guard_a_route(app_client: Any) -> None:
    registered = set(routes(app_client.app))  # Twitch configured: every route there is
    assert registered - set(GUARDS) == set(), "routes without a guard in twi_overlay/web/guards.py"
    assert set(GUARDS) - registered == set(), "guards for routes that no longer exist"


def test_the_route_table_is_generated_from_the_app() -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "route-table.py"), "--check"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
