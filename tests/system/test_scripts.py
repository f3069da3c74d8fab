"""The operations scripts for real: backup, restore and rotation; deploy, smoke, deploy, rollback;
the curl smoke test."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.helpers import (
    ROOT,
    SECRET,
    SIGNING_KEY,
    ServerProcess,
    free_port,
    wait_gone,
)
from tests.pages_helpers import BROADCASTER, seed
from tests.system.helpers import SCRIPTS, aiohttp_sync, entries_in, run
from twi_overlay.web.auth import mint_token

pytestmark = pytest.mark.slow


def test_backup_restore_round_trip_and_rotation(tmp_path: Path) -> None:
    db = tmp_path / "data" / "app.db"
    db.parent.mkdir()
    seed(db)
    server = ServerProcess(db).start()
    try:
        with aiohttp_sync() as post:
            for i in range(3):
                post(server.url, f"viewer{i}")
        env = {"DATABASE_URL": f"sqlite://{db}", "KEEP": "14"}
        first = run(["bash", str(SCRIPTS / "backup.sh")], env)  # online, while the server runs
        assert first.returncode == 0, first.stderr
        backup = Path(first.stdout.strip())
        assert backup.parent == db.parent / "backup"
        check = sqlite3.connect(backup).execute("PRAGMA integrity_check").fetchone()[0]
        assert check == "ok" and entries_in(backup) == ["viewer0", "viewer1", "viewer2"]
        saved = tmp_path / "saved.db"
        shutil.copy(backup, saved)  # rotation below will remove the original
        with aiohttp_sync() as post:
            post(server.url, "after-backup")
    finally:
        server.stop()
    for _ in range(15):
        assert run(["bash", str(SCRIPTS / "backup.sh")], env).returncode == 0
    kept = sorted((db.parent / "backup").glob("app-*.db"))
    assert len(kept) == 14 and backup not in kept  # the oldest generations went first
    assert {oct(k.stat().st_mode & 0o777) for k in kept} == {"0o600"}  # they hold OAuth tokens
    service_user = 65534  # the restore runs as root; the database's directory belongs to the service
    if os.geteuid() == 0:
        os.chown(db.parent, service_user, service_user)
    restore = run(
        ["bash", str(SCRIPTS / "restore.sh"), str(saved)],
        {
            **env,
            "STOP_CMD": "true",
            "START_CMD": "true",
            "ENV_FILE": "/nonexistent",
            "TWI_BIN": str(ROOT / ".venv" / "bin" / "twi-overlay"),
        },
    )
    assert restore.returncode == 0, restore.stderr + restore.stdout
    written = [db, *db.parent.glob("app.db-*"), *db.parent.glob("app.db.before-restore-*")]
    assert {oct(f.stat().st_mode & 0o777) for f in written} == {"0o600"}
    if os.geteuid() == 0:  # the service can write to what a root restore left
        assert {f.stat().st_uid for f in written} == {service_user}
    assert entries_in(db) == ["viewer0", "viewer1", "viewer2"]
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    aside = list(db.parent.glob("app.db.before-restore-*"))
    assert len(aside) == 1 and entries_in(aside[0])[-1] == "after-backup"  # nothing lost: kept aside
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all" * 100)
    refused = run(["bash", str(SCRIPTS / "restore.sh"), str(bad)], {**env, "STOP_CMD": "false", "ENV_FILE": "/x"})
    assert refused.returncode != 0 and entries_in(db) == ["viewer0", "viewer1", "viewer2"]


def test_deploy_smoke_deploy_rollback(tmp_path: Path) -> None:
    app_root = tmp_path / "opt"
    data = tmp_path / "var"
    data.mkdir()
    port = free_port()
    env_file = tmp_path / "env"
    env_file.write_text(
        f"APP_ENV=development\nDATABASE_URL=sqlite://{data}/app.db\nPORT={port}\nHOST=127.0.0.1\n"
        f"WEBHOOK_SECRET={SECRET}\nSSE_TOKEN_SIGNING_KEY={SIGNING_KEY}\nLOG_LEVEL=warning\n"
    )
    restart = tmp_path / "restart.sh"
    restart.write_text(f"""#!/usr/bin/env bash
# stands in for `systemctl restart twi-overlay` in this scratch directory
if [ -f {tmp_path}/app.pid ] && kill "$(cat {tmp_path}/app.pid)" 2>/dev/null; then
  while kill -0 "$(cat {tmp_path}/app.pid)" 2>/dev/null; do sleep 0.05; done  # as systemctl, wait for the stop
fi
nohup {app_root}/current/.venv/bin/twi-overlay serve >> {tmp_path}/app.log 2>&1 &
echo $! > {tmp_path}/app.pid
""")
    restart.chmod(0o755)
    env = {"APP_ROOT": str(app_root), "ENV_FILE": str(env_file), "RESTART_CMD": str(restart), "SRC": str(ROOT)}
    service_user = 65534  # "nobody" stands in for the service's user when the test runs as root
    if os.geteuid() == 0:
        env["SERVICE_USER"] = "nobody"
        # The release's virtualenv must run as that user: a system Python, as on a server (this
        # machine's own interpreter lives under /root, which nobody else may enter).
        env["PYTHON"] = "/usr/bin/python3"
        os.chown(data, service_user, service_user)
        base = Path(tempfile.gettempdir())
        for folder in (tmp_path, *tmp_path.parents):  # the service user must reach the data and the release
            if folder == base:
                break
            folder.chmod(folder.stat().st_mode | 0o011)
    try:
        d1 = run(["bash", str(SCRIPTS / "deploy.sh")], env, timeout=600)
        assert d1.returncode == 0, d1.stdout + d1.stderr
        first = (app_root / "current").resolve()
        if os.geteuid() == 0:  # the code is root's, the database the service's
            assert (first / "twi_overlay" / "app.py").stat().st_uid == 0
            assert (data / "app.db").stat().st_uid == service_user
        assert first.parent == app_root / "releases" and (first / ".venv" / "bin" / "twi-overlay").exists()
        base = f"http://127.0.0.1:{port}"
        assert run(["curl", "-fsS", "-o", "/dev/null", base + "/_debug/login"]).returncode == 0
        smoke_env = {
            "BASE_URL": base,
            "BROADCASTER_ID": BROADCASTER,
            "SSE_TOKEN_SIGNING_KEY": SIGNING_KEY,
            "DATABASE_URL": f"sqlite://{data}/app.db",
            "TWI_BIN": str(first / ".venv/bin/twi-overlay"),
        }
        started = time.monotonic()
        smoke = run(["bash", str(SCRIPTS / "smoke.sh")], smoke_env, timeout=120)
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr
        assert "5 passed, 0 failed" in smoke.stdout and time.monotonic() - started < 120
        # It leaves nothing behind: no queue entry, and the settings as they were (only the version moved).
        assert entries_in(data / "app.db") == []
        with sqlite3.connect(data / "app.db") as conn:
            doc = conn.execute("SELECT doc FROM settings WHERE broadcaster_id = ?", (BROADCASTER,)).fetchone()[0]
        from twi_overlay.domain.settings import default_settings
        from twi_overlay.web.pages import MOCK_REWARD_ID

        expected = default_settings()
        expected["rewards"] = {MOCK_REWARD_ID: "queue"}  # as the development login made them
        assert json.loads(doc) == expected
        token = mint_token(SIGNING_KEY, "admin", BROADCASTER, 60)[0]
        enqueue = '{"type": "queue.enqueue", "payload": {"user_name": "kept"}}'
        auth = ["-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json"]
        assert run(["curl", "-fsS", "-o", "/dev/null", *auth, "-d", enqueue, base + "/api/commands"]).returncode == 0
        before = entries_in(data / "app.db")
        assert before == ["kept"]
        d2 = run(["bash", str(SCRIPTS / "deploy.sh")], env, timeout=600)
        assert d2.returncode == 0, d2.stdout + d2.stderr
        second = (app_root / "current").resolve()
        assert second != first and sorted((app_root / "releases").iterdir()) == [first, second]
        rb = run(["bash", str(SCRIPTS / "rollback.sh")], env, timeout=120)
        assert rb.returncode == 0, rb.stdout + rb.stderr
        assert (app_root / "current").resolve() == first
        assert run(["curl", "-fsS", "-o", "/dev/null", base + "/healthz"]).returncode == 0
        assert entries_in(data / "app.db") == before  # data intact across deploys and the rollback
        nothing_older = run(["bash", str(SCRIPTS / "rollback.sh")], env, timeout=60)
        assert nothing_older.returncode != 0 and "no release older" in nothing_older.stderr
    finally:
        pid = tmp_path / "app.pid"
        if pid.exists():
            subprocess.run(["kill", pid.read_text().strip()], check=False)
            wait_gone(int(pid.read_text().strip()))


def test_smoke_script_against_a_local_server(tmp_path: Path) -> None:
    seed(tmp_path / "app.db")
    server = ServerProcess(tmp_path / "app.db").start()
    try:
        result = run(
            ["bash", str(SCRIPTS / "smoke.sh")],
            {
                "BASE_URL": server.url,
                "BROADCASTER_ID": BROADCASTER,
                "SSE_TOKEN_SIGNING_KEY": SIGNING_KEY,
                "DATABASE_URL": f"sqlite://{tmp_path}/app.db",
                "TWI_BIN": str(ROOT / ".venv/bin/twi-overlay"),
            },
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.count("\nok ") + result.stdout.startswith("ok ") == 5
        broken = run(
            ["bash", str(SCRIPTS / "smoke.sh")], {"BASE_URL": "http://127.0.0.1:9", "ADMIN_TOKEN": "x"}, timeout=120
        )
        assert broken.returncode != 0 and "FAIL 1" in broken.stdout
    finally:
        server.stop()
