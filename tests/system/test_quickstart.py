"""The README quick start on a fresh clone, every process it starts gone afterwards."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT, free_port, wait_exit

pytestmark = pytest.mark.slow


def wait_group_gone(pgid: int, timeout: float) -> None:
    """Every process of a process group has exited (zombies aside); the rest are killed, and fail."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[2]) == pgid and fields[0] != "Z":
                    alive.append(int(entry.name))
        if not alive:
            return
        if time.monotonic() > deadline:
            os.killpg(pgid, signal.SIGKILL)
            raise AssertionError(f"processes {alive} of the group did not exit on SIGTERM")
        time.sleep(0.05)


def _quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- quickstart -->\s*```(?:sh|bash)?\n(.*?)```", readme, re.S)
    assert block, "README has no quick start block"
    return [ln.split("#")[0].strip() for ln in block.group(1).splitlines() if ln.split("#")[0].strip()]


@pytest.mark.skipif(os.environ.get("TWI_QUICKSTART_INNER") == "1", reason="already inside the quick start test")
def test_readme_quickstart_on_a_fresh_clone(tmp_path: Path) -> None:
    commands = _quickstart_commands()
    assert len(commands) == 2, commands
    run_cmd, test_cmd = commands
    scratch = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(scratch)], check=True, timeout=120)
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("APP_", "DATABASE_", "WEBHOOK_", "SSE_", "TWITCH_", "VIRTUAL_ENV"))
    }
    env.update({"PORT": str(port), "TWI_QUICKSTART_INNER": "1"})
    proc = subprocess.Popen(
        run_cmd,
        shell=True,
        cwd=scratch,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        lines: list[str] = []
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline().decode()
            if not line:
                break
            lines.append(line)
            if "overlay page:" in line:
                break
        out = "".join(lines)
        assert "listening on" in out, out
        assert "/admin/" in out and "/overlay/" in out
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:  # noqa: S310
            assert r.status == 200
        assert (scratch / "data" / "app.db").exists()
        # A lean first run: only what serving needs, and no packaging warnings on the way.
        site = next((scratch / ".venv" / "lib").glob("python3*/site-packages"))
        dev_only = ("pytest", "playwright", "hypothesis", "ruff", "mypy")
        assert [name for name in dev_only if (site / name).exists()] == []
        assert "Warning:" not in out and "Deprecat" not in out, out
    finally:
        # What a terminal's Ctrl-C does: the whole group gets the signal; make forwards another to the
        # server and waits for it. Every process of the group must be gone.
        os.killpg(proc.pid, signal.SIGTERM)
        wait_exit(proc, 30)
        wait_group_gone(proc.pid, 30)
    # The test command, on the same clone (a small subset: the whole suite is what we are running now).
    result = subprocess.run(
        test_cmd + " PYTEST_ARGS='tests/test_config.py tests/ops/test_logs.py'",
        shell=True,
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed", result.stdout), result.stdout[-2000:]
    shutil.rmtree(scratch / ".venv", ignore_errors=True)
