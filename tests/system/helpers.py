"""Running the repository's scripts and tools in scratch directories."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

from tests.conftest import admin_headers
from tests.helpers import (
    ROOT,
)
from tests.pages_helpers import BROADCASTER

SCRIPTS = ROOT / "scripts"


def run(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 300, **kw: object):  # type: ignore[no-untyped-def]
    return subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout, **kw)  # type: ignore[call-overload]


def entries_in(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT user_name FROM queue_entries ORDER BY id")]
    finally:
        conn.close()


class aiohttp_sync:  # noqa: N801 - a tiny blocking helper for the backup test
    def __enter__(self):  # type: ignore[no-untyped-def]
        import json
        import urllib.request

        def post(url: str, name: str) -> None:
            req = urllib.request.Request(
                url + "/api/commands",
                method="POST",
                data=json.dumps({"type": "queue.enqueue", "payload": {"user_name": name}}).encode(),
                headers={"Content-Type": "application/json", **admin_headers(BROADCASTER)},
            )
            with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback
                assert r.status == 200

        return post

    def __exit__(self, *exc: object) -> None:
        return None
