"""Operations artefacts with the real tools: nginx in front of the app, systemd units, deploy/rollback,
backup/restore/rotation, and the curl smoke script (runbook §5, §6, §8, §11, §16, §18)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import ssl
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import admin_headers
from tests.helpers import (
    ROOT,
    SECRET,
    SIGNING_KEY,
    ServerProcess,
    delivery,
    free_port,
    redemption_body,
    wait_exit,
    wait_gone,
)
from tests.pages_helpers import BROADCASTER, seed

pytestmark = pytest.mark.slow
SCRIPTS = ROOT / "scripts"


def run(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 300, **kw: object):  # type: ignore[no-untyped-def]
    return subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout, **kw)  # type: ignore[call-overload]


# -- nginx ---------------------------------------------------------------------------------------------
def render_nginx(site: str, https_port: int, http_port: int, app_port: int, cert: Path, key: Path) -> str:
    """The repo's site config, moved to loopback ports and a self-signed certificate; nothing else."""
    out = (
        site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
        .replace("listen 80;", f"listen 127.0.0.1:{http_port};")
        .replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{app_port};")
        .replace("/etc/letsencrypt/live/overlay.example.com/fullchain.pem", str(cert))
        .replace("/etc/letsencrypt/live/overlay.example.com/privkey.pem", str(key))
    )
    assert out.count(str(cert)) == 1 and f":{https_port} " in out and f":{app_port};" in out
    return out


@pytest.fixture
def nginx(tmp_path: Path):  # type: ignore[no-untyped-def]
    if not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists():
        pytest.fail("nginx is not installed: run scripts/test-deps.sh")
    seed(tmp_path / "app.db")
    app = ServerProcess(tmp_path / "app.db").start()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=overlay.example.com",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ]
    ).check_returncode()
    https_port, http_port = free_port(), free_port()
    site = render_nginx((ROOT / "nginx" / "twi-overlay.conf").read_text(), https_port, http_port, app.port, cert, key)
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "logs").mkdir()
    (tmp_path / "nginx.conf").write_text(f"""
user root;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log {tmp_path}/logs/access.log;
  client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy;
  fastcgi_temp_path {tmp_path}/fcgi; uwsgi_temp_path {tmp_path}/uwsgi; scgi_temp_path {tmp_path}/scgi;
  include {tmp_path}/site.conf;
}}
""")
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    test = run([nginx_bin, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")])
    assert test.returncode == 0, test.stderr
    proc = subprocess.Popen(
        [nginx_bin, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    import socket

    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", https_port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield {
        "https": f"https://127.0.0.1:{https_port}",
        "http": f"http://127.0.0.1:{http_port}",
        "app": app,
        "db": tmp_path / "app.db",
    }
    proc.terminate()
    wait_exit(proc)
    app.stop()


def insecure() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def test_sse_events_arrive_through_nginx_as_they_are_sent(nginx: dict) -> None:  # type: ignore[type-arg]
    from tests.sse_client import SSEStream

    headers = admin_headers(BROADCASTER)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=insecure())) as s:
        r = await s.post(nginx["https"] + "/api/sse-token", json={"aud": "overlay"}, headers=headers)
        token = (await r.json())["token"]
        resp = await s.get(f"{nginx['https']}/overlay/sse?token={token}")
        assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
        stream = SSEStream(resp)
        assert (await stream.next()).retry == 2000
        assert (await stream.next_event()).event == "state.replace"
        for i in range(1, 4):  # each small event arrives on its own, well before any buffer would fill
            sent = time.monotonic()
            r = await s.post(
                nginx["https"] + "/api/commands",
                headers=headers,
                json={"type": "counter.increment", "payload": {"name": "hits"}},
            )
            assert r.status == 200
            f = await stream.next_event(timeout=2)
            assert f.data["data"] == {"name": "hits", "value": i}
            assert time.monotonic() - sent < 0.5
        stream.close()


async def test_metrics_and_debug_are_refused_outside_the_allow_list(nginx: dict) -> None:  # type: ignore[type-arg]
    outside = aiohttp.TCPConnector(ssl=insecure(), local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=outside) as s:
        for path in ("/metrics", "/_debug/tap", "/_debug/login"):
            async with s.get(nginx["https"] + path) as r:
                assert r.status == 403, path
        async with s.get(nginx["https"] + "/healthz") as r:
            assert r.status == 200  # the rest of the site is public
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=insecure())) as s:  # from 127.0.0.1
        async with s.get(nginx["https"] + "/metrics") as r:
            assert r.status == 200 and "eventsub_ingress_total" in await r.text()
        async with s.get(nginx["http"] + "/healthz", allow_redirects=False) as r:
            assert r.status == 301 and r.headers["Location"].startswith("https://")


async def test_webhook_passes_through_nginx_byte_for_byte(nginx: dict) -> None:  # type: ignore[type-arg]
    headers, raw = delivery(redemption_body(broadcaster_id=BROADCASTER, user_input="héllo \u2764 <&>"))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=insecure())) as s:
        async with s.post(nginx["https"] + "/eventsub/webhook", data=raw, headers=headers) as r:
            assert r.status == 204, await r.text()
        big_headers, big = delivery(redemption_body(broadcaster_id=BROADCASTER, user_input="x" * 300_000))
        async with s.post(nginx["https"] + "/eventsub/webhook", data=big, headers=big_headers) as r:
            assert r.status == 413
    conn = sqlite3.connect(nginx["db"])
    stored = conn.execute(
        "SELECT payload FROM event_raw WHERE message_id = ?", (headers["Twitch-Eventsub-Message-Id"],)
    ).fetchone()[0]
    count = conn.execute("SELECT count(*) FROM event_raw").fetchone()[0]
    conn.close()
    assert bytes(stored) == raw and count == 1


# -- systemd ---------------------------------------------------------------------------------------------
def test_systemd_units_verify(tmp_path: Path) -> None:
    exe = ROOT / ".venv" / "bin" / "twi-overlay"
    for name in ("twi-overlay.service", "twi-overlay-backup.service", "twi-overlay-backup.timer"):
        text = (ROOT / "systemd" / name).read_text()
        # Only what this machine lacks is changed: the install paths and the service user.
        text = (
            text.replace("/opt/twi-overlay/current/.venv/bin/twi-overlay", str(exe))
            .replace("/opt/twi-overlay/current/scripts/backup.sh", str(SCRIPTS / "backup.sh"))
            .replace("User=overlay", "User=root")
            .replace("Group=overlay", "Group=root")
        )
        (tmp_path / name).write_text(text)
    service = (ROOT / "systemd" / "twi-overlay.service").read_text()
    for required in (
        "Restart=always",
        "LimitNOFILE=65535",
        "User=overlay",
        "EnvironmentFile=/etc/twi-overlay/env",
        "After=network-online.target",
        "NoNewPrivileges=true",
    ):
        assert required in service, required
    stop = int(service.split("TimeoutStopSec=")[1].split()[0])
    assert stop > 5  # longer than the app's own shutdown_timeout_secs
    if shutil.which("systemd-analyze"):
        units = [
            str(tmp_path / n) for n in ("twi-overlay.service", "twi-overlay-backup.service", "twi-overlay-backup.timer")
        ]
        result = run(["systemd-analyze", "verify", *units])
        assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr.strip() == "", result.stderr
    else:  # pragma: no cover - equivalent parse check
        import configparser

        for name in ("twi-overlay.service", "twi-overlay-backup.service", "twi-overlay-backup.timer"):
            cp = configparser.ConfigParser(strict=True, interpolation=None)
            cp.read_string((tmp_path / name).read_text())


# -- backup, restore, rotation -------------------------------------------------------------------------
def _entries(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT user_name FROM queue_entries ORDER BY id")]
    finally:
        conn.close()


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
        assert check == "ok" and _entries(backup) == ["viewer0", "viewer1", "viewer2"]
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
    assert _entries(db) == ["viewer0", "viewer1", "viewer2"]
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    aside = list(db.parent.glob("app.db.before-restore-*"))
    assert len(aside) == 1 and _entries(aside[0])[-1] == "after-backup"  # nothing lost: kept aside
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all" * 100)
    refused = run(["bash", str(SCRIPTS / "restore.sh"), str(bad)], {**env, "STOP_CMD": "false", "ENV_FILE": "/x"})
    assert refused.returncode != 0 and _entries(db) == ["viewer0", "viewer1", "viewer2"]


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


# -- deploy, smoke, deploy, rollback ------------------------------------------------------------------
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
    try:
        d1 = run(["bash", str(SCRIPTS / "deploy.sh")], env, timeout=600)
        assert d1.returncode == 0, d1.stdout + d1.stderr
        first = (app_root / "current").resolve()
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
        before = _entries(data / "app.db")
        assert len(before) == 1  # the smoke test's mock redemption
        d2 = run(["bash", str(SCRIPTS / "deploy.sh")], env, timeout=600)
        assert d2.returncode == 0, d2.stdout + d2.stderr
        second = (app_root / "current").resolve()
        assert second != first and sorted((app_root / "releases").iterdir()) == [first, second]
        rb = run(["bash", str(SCRIPTS / "rollback.sh")], env, timeout=120)
        assert rb.returncode == 0, rb.stdout + rb.stderr
        assert (app_root / "current").resolve() == first
        assert run(["curl", "-fsS", "-o", "/dev/null", base + "/healthz"]).returncode == 0
        assert _entries(data / "app.db") == before  # data intact across deploys and the rollback
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
