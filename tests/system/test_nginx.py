"""nginx with our site config in front of the app: SSE unbuffered, the webhook byte for byte, internal paths refused."""

from __future__ import annotations

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
    ServerProcess,
    delivery,
    free_port,
    redemption_body,
    wait_exit,
)
from tests.pages_helpers import BROADCASTER, seed
from tests.system.helpers import run
from tests.test_config import GOOD_PROD

pytestmark = pytest.mark.slow


def render_nginx(site: str, https_port: int, http_port: int, app_port: int, cert: Path, key: Path) -> str:
    """The repo's site config, moved to loopback ports and a self-signed certificate; nothing else."""
    out = (
        site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
        .replace("listen 80;", f"listen 127.0.0.1:{http_port};")
        .replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{app_port};")
        .replace("/etc/letsencrypt/live/overlay.example.com/fullchain.pem", str(cert))
        .replace("/etc/letsencrypt/live/overlay.example.com/privkey.pem", str(key))
        .replace("/var/log/nginx/twi-overlay.access.log", str(Path(cert).parent / "logs" / "site-access.log"))
    )
    assert out.count(str(cert)) == 1 and f":{https_port} " in out and f":{app_port};" in out
    return out


@pytest.fixture
def nginx(tmp_path: Path):  # type: ignore[no-untyped-def]
    if not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists():
        pytest.fail("nginx is not installed: run scripts/test-deps.sh")
    seed(tmp_path / "app.db")
    app = ServerProcess(tmp_path / "app.db", SSE_MAX_STREAMS_PER_CLIENT="2").start()
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


async def test_credentials_never_reach_the_access_log(nginx: dict) -> None:  # type: ignore[type-arg]
    """Stream tokens ride in ?token= and old overlay URLs in ?key=: our log format drops query strings
    and the Referer that would repeat them."""
    token, key = "tok-" + "s3cr3t" * 8, "key-" + "s3cr3t" * 8
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=insecure())) as s:
        async with s.get(f"{nginx['https']}/overlay/sse?token={token}") as r:
            assert r.status == 401
        async with s.get(f"{nginx['https']}/overlay/?key={key}", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == f"/overlay/?update_url=1#key={key}"
        referer = {"Referer": f"{nginx['https']}/overlay/?key={key}"}
        async with s.get(f"{nginx['https']}/static/overlay.js", headers=referer) as r:
            assert r.status == 200
    log = (Path(nginx["db"]).parent / "logs" / "site-access.log").read_text()
    assert "GET /overlay/sse HTTP" in log and "GET /overlay/ HTTP" in log and "/static/overlay.js" in log
    assert "s3cr3t" not in log


async def test_the_per_client_stream_cap_counts_the_client_nginx_saw(nginx: dict) -> None:  # type: ignore[type-arg]
    """Two streams per client address (set for this test): the third from the same client is 429, while
    another client still gets in. A forged X-Forwarded-For changes nothing: nginx appends what it saw."""
    headers = admin_headers(BROADCASTER)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=insecure())) as s:
        r = await s.post(nginx["https"] + "/api/sse-token", json={"aud": "overlay"}, headers=headers)
        token = (await r.json())["token"]
    url = f"{nginx['https']}/overlay/sse?token={token}"
    one = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=insecure(), local_addr=("127.0.0.2", 0)))
    other = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=insecure(), local_addr=("127.0.0.3", 0)))
    try:
        held = [await one.get(url), await one.get(url, headers={"X-Forwarded-For": "203.0.113.9"})]
        assert [r.status for r in held] == [200, 200]
        for forged in (None, "203.0.113.10", "127.0.0.1"):
            extra = {"X-Forwarded-For": forged} if forged else {}
            async with one.get(url, headers=extra) as r:
                assert r.status == 429 and (await r.json())["error"]["code"] == "too_many_streams", forged
                assert r.headers["Retry-After"] == "5"
        async with other.get(url) as r:
            assert r.status == 200
        for r in held:
            r.close()
    finally:
        await one.close()
        await other.close()


async def test_metrics_are_refused_to_a_client_that_is_not_local_whatever_it_sends(tmp_path: Path) -> None:
    """Production: /metrics by the client's address, straight or through a trusted proxy."""
    seed(tmp_path / "app.db")
    env = {k: v for k, v in GOOD_PROD.items() if k != "DATABASE_URL"}
    app = ServerProcess(tmp_path / "app.db", **env).start()
    try:
        url = f"http://127.0.0.1:{app.port}/metrics"
        outside = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))  # a peer that is not 127.0.0.1
        async with aiohttp.ClientSession(connector=outside) as s:
            for forwarded in (None, "127.0.0.1"):
                async with s.get(url, headers={"X-Forwarded-For": forwarded} if forwarded else {}) as r:
                    assert r.status == 403, forwarded
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{app.port}/metrics") as r:
                assert r.status == 200
            async with s.get(f"http://127.0.0.1:{app.port}/metrics", headers={"X-Forwarded-For": "198.51.100.4"}) as r:
                assert r.status == 403  # came through the proxy from outside
    finally:
        app.stop()


def test_the_smoke_test_passes_through_nginx_from_outside_and_leaves_nothing(nginx: dict) -> None:  # type: ignore[type-arg]
    """As the runbook runs it after a deploy: through nginx, from an address that is not loopback (so
    /_debug/ is refused), with curl checking the certificate."""
    from tests.helpers import SIGNING_KEY
    from tests.system.helpers import SCRIPTS, entries_in

    db = Path(nginx["db"])
    port = nginx["https"].rsplit(":", 1)[1]
    cert = db.parent / "cert.pem"
    smoke = run(
        ["bash", str(SCRIPTS / "smoke.sh")],
        {
            "BASE_URL": f"https://overlay.example.com:{port}",
            "CURL_OPTS": f"--cacert {cert} --resolve overlay.example.com:{port}:127.0.0.1 --interface 127.0.0.2",
            "BROADCASTER_ID": BROADCASTER,
            "SSE_TOKEN_SIGNING_KEY": SIGNING_KEY,
            "DATABASE_URL": f"sqlite://{db}",
            "TWI_BIN": str(ROOT / ".venv" / "bin" / "twi-overlay"),
        },
        timeout=120,
    )
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert "5 passed, 0 failed" in smoke.stdout and "5 skipped" in smoke.stdout
    assert entries_in(db) == []
