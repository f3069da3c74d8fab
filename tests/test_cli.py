"""The command line as a real process: exit 2 naming bad settings, tokens, maintenance, and the
shutdown of `serve` on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import BROADCASTER, ROOT, SIGNING_KEY, ServerProcess, seed_db, wait_exit
from tests.test_config import GOOD_PROD
from twi_overlay.web.auth import mint_token


def _run_cli(env: dict[str, str], *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """`python -m twi_overlay ARGS` with only PATH, HOME and LANG of ours, plus `env`."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [sys.executable, "-m", "twi_overlay", *args],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_refuses_every_bad_value_at_once_with_exit_2_and_never_prints_values() -> None:
    env = dict(GOOD_PROD, WEBHOOK_SECRET="tooshort-secret-value", SSE_TOKEN_SIGNING_KEY="weak-key-value")
    env.pop("TWITCH_CLIENT_SECRET")
    proc = _run_cli(env, "serve")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert [ln.split(":")[1].strip() for ln in lines] == [
        "TWITCH_CLIENT_SECRET",
        "WEBHOOK_SECRET",
        "SSE_TOKEN_SIGNING_KEY",
    ]
    assert "tooshort-secret-value" not in proc.stderr + proc.stdout
    assert "weak-key-value" not in proc.stderr + proc.stdout


def test_cli_token_prints_only_a_token(tmp_path: Path) -> None:
    import jwt

    proc = _run_cli(
        {"DATABASE_URL": f"sqlite://{tmp_path}/a.db", "SSE_TOKEN_SIGNING_KEY": "k" * 32},
        "token",
        "--aud",
        "overlay",
        "--sub",
        "1337",
        "--ttl",
        "60",
    )
    assert proc.returncode == 0, proc.stderr
    token = proc.stdout.strip()
    assert proc.stdout.count("\n") == 1
    claims = jwt.decode(token, "k" * 32, algorithms=["HS256"], audience="overlay")
    assert claims["sub"] == "1337" and claims["exp"] - claims["iat"] == 60
    bad = _run_cli({"DATABASE_URL": f"sqlite://{tmp_path}/a.db"}, "token", "--aud", "nobody", "--sub", "1")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_a_token_made_in_another_directory_is_signed_with_the_servers_secret(tmp_path: Path) -> None:
    """In development, with no settings at all, `twi-overlay token` run from anywhere signs with the
    throw-away key the server uses (kept beside the default database, in the checkout's data/)."""
    import jwt
    import orjson

    proc = _run_cli({}, "token", "--aud", "admin", "--sub", "10000001", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    key = orjson.loads((ROOT / "data" / ".dev-secrets.json").read_bytes())["SSE_TOKEN_SIGNING_KEY"]
    claims = jwt.decode(proc.stdout.strip(), key, algorithms=["HS256"], audience="admin")
    assert claims["sub"] == "10000001"
    assert list(tmp_path.iterdir()) == []  # no data/ and no new secrets where it was run


def test_cli_maintenance(tmp_path: Path) -> None:
    proc = _run_cli({"DATABASE_URL": f"sqlite://{tmp_path}/m.db"}, "maintenance")
    assert proc.returncode == 0, proc.stderr
    assert '"deleted":{"event_raw":0,"command_log":0,"chatters":0}' in proc.stdout


@pytest.mark.slow
async def test_sigterm_with_100_open_streams_exits_within_2_seconds(tmp_path: Path) -> None:
    db_path = tmp_path / "app.db"
    seed_db(db_path)
    server = ServerProcess(db_path, SSE_MAX_STREAMS_PER_CLIENT="1000").start()  # all from this one address
    token, _ = mint_token(SIGNING_KEY, "overlay", BROADCASTER, 300)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            responses = []
            for _ in range(100):
                r = await session.get(f"{server.url}/overlay/sse?token={token}")
                assert r.status == 200
                responses.append(r)
            # Every stream has delivered its first frame: they are all really open.
            for r in responses:
                assert (await r.content.readuntil(b"\n\n")).startswith(b"retry:")
            started = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
            ends = await asyncio.gather(*(r.content.read() for r in responses), return_exceptions=True)
            assert len(ends) == 100
            await asyncio.to_thread(server.proc.wait, 10)  # type: ignore[union-attr]
            elapsed = time.monotonic() - started
        assert server.proc.returncode == 0  # type: ignore[union-attr]
        assert elapsed < 2.0, f"shutdown took {elapsed:.2f}s"
    finally:
        server.stop()


@pytest.mark.slow
def test_repeated_sigterm_during_the_shutdown_still_ends_it_cleanly(tmp_path: Path) -> None:
    """SIGTERM after SIGTERM (make forwards one to its child right after the group got one): the first
    starts the graceful shutdown, the others change nothing, and the process exits 0 once its cleanup
    has run. Before, a second signal aborted the cleanup and the process hung at exit for good."""
    db_path = tmp_path / "app.db"
    seed_db(db_path)
    server = ServerProcess(db_path, LOG_LEVEL="info").start()
    assert server.proc is not None
    signals = 0
    # SIGTERMs every millisecond until one has arrived during the shutdown (the server says so), then
    # no more: what is left must end by itself.
    while server.proc.poll() is None and signals < 2000 and "already shutting down" not in server.output():
        server.proc.send_signal(signal.SIGTERM)
        signals += 1
        time.sleep(0.001)
    wait_exit(server.proc, 10)
    assert server.proc.returncode == 0, server.output()[-2000:]
    assert signals > 1 and "already shutting down" in server.output()
    # The last cleanup context ran to its end: after its "stopped" line come at most the notes about
    # signals that arrived in the last moments before exit.
    after_stop = server.output().rsplit("twi_overlay: stopped", 1)
    assert len(after_stop) == 2, server.output()[-2000:]
    assert all("already shutting down" in line for line in after_stop[1].splitlines() if line.strip())
