"""Installed from a built wheel, away from the checkout: it migrates and serves, pages included."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import ROOT, free_port, wait_exit

pytestmark = pytest.mark.slow


def test_a_built_wheel_migrates_and_serves(tmp_path: Path) -> None:
    def run(*cmd: str | Path, **kw: object) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload]
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc

    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", ROOT)
    [wheel] = (tmp_path / "dist").glob("twi_overlay-*.whl")
    run(sys.executable, "-m", "venv", tmp_path / "venv")
    run(tmp_path / "venv" / "bin" / "pip", "install", "-q", "--disable-pip-version-check", wheel)
    cli = tmp_path / "venv" / "bin" / "twi-overlay"
    work = tmp_path / "elsewhere"  # not the checkout: everything must come from the installed package
    work.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TWI_TEST_RUN")}
    env.update({"DATABASE_URL": f"sqlite://{work}/app.db", "PORT": str(port), "LOG_LEVEL": "warning"})
    migrated = run(cli, "migrate", cwd=work, env=env)
    assert "applied 10 migration(s)" in migrated.stdout
    tables = {r[0] for r in sqlite3.connect(work / "app.db").execute("SELECT name FROM sqlite_master")}
    assert {"broadcasters", "queue_entries", "event_raw"} <= tables
    server = subprocess.Popen([str(cli), "serve"], cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the installed server did not start"
                time.sleep(0.05)
        for path in ("/healthz", "/overlay/", "/static/overlay.js"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:  # noqa: S310
                assert r.status == 200, path
    finally:
        server.terminate()
        assert wait_exit(server, 15) == 0
