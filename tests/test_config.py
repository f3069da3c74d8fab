"""Configuration: development defaults; every production requirement refused with exit 2, by name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT
from twi_overlay.config import ConfigError, load_settings

GOOD_PROD = {
    "APP_ENV": "production",
    "APP_BASE_URL": "https://overlay.example.com",
    "RUST_LOG": "info",
    "TWITCH_CLIENT_ID": "abcdefghijklmnopqrstuvwxyz0123",
    "TWITCH_CLIENT_SECRET": "s3cr3t-client-value-xyz",
    "OAUTH_REDIRECT_URI": "https://overlay.example.com/oauth/callback",
    "WEBHOOK_SECRET": "w" * 40,
    "SSE_TOKEN_SIGNING_KEY": "k" * 40,
    "DATABASE_URL": "sqlite:///var/lib/twi-overlay/data/app.db",
}


def test_development_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings({})
    assert s.app_env == "development" and s.development
    assert (s.host, s.port) == ("127.0.0.1", 8080)
    assert s.database_path == "./data/app.db"
    assert s.sse_heartbeat_secs == 25 and s.sse_ring_max == 1000 and s.log_level == "INFO"
    assert len(s.webhook_secret) >= 32 and len(s.sse_token_signing_key) >= 32
    assert any("throw-away" in w for w in s.warnings)
    secrets_file = tmp_path / "data" / ".dev-secrets.json"
    assert secrets_file.exists() and oct(secrets_file.stat().st_mode & 0o777) == "0o600"
    # The CLI and the server must agree: the same secrets on the next load.
    again = load_settings({})
    assert again.sse_token_signing_key == s.sse_token_signing_key


def test_production_accepts_a_complete_environment() -> None:
    s = load_settings(GOOD_PROD)
    assert s.production and s.database_path == "/var/lib/twi-overlay/data/app.db"
    assert s.warnings == ()
    assert "k" * 40 not in repr(s) and "w" * 40 not in repr(s)


def test_log_level_from_rust_log_or_log_level() -> None:
    assert load_settings({**GOOD_PROD, "RUST_LOG": "debug"}).log_level == "DEBUG"
    assert load_settings({**GOOD_PROD, "RUST_LOG": "twi_overlay=warn"}).log_level == "WARNING"
    assert load_settings({**GOOD_PROD, "RUST_LOG": "debug", "LOG_LEVEL": "error"}).log_level == "ERROR"


CASES = [
    ("TWITCH_CLIENT_ID", None),
    ("TWITCH_CLIENT_SECRET", None),
    ("WEBHOOK_SECRET", None),
    ("WEBHOOK_SECRET", "short-secret"),
    ("WEBHOOK_SECRET", "x" * 101),
    ("WEBHOOK_SECRET", "ü" * 40),
    ("SSE_TOKEN_SIGNING_KEY", None),
    ("SSE_TOKEN_SIGNING_KEY", "only-31-bytes-long-signing-key!"),
    ("APP_BASE_URL", "http://overlay.example.com"),
    ("OAUTH_REDIRECT_URI", "http://x/oauth/callback"),
    ("DATABASE_URL", None),
    ("DATABASE_URL", "postgres://x"),
    ("SSE_RING_MAX", "0"),
    ("PORT", "http"),
]


@pytest.mark.parametrize(("name", "value"), CASES)
def test_each_production_requirement_is_enforced(name: str, value: str | None) -> None:
    env = dict(GOOD_PROD)
    if value is None:
        env.pop(name)
    else:
        env[name] = value
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert [p.split(":")[0] for p in info.value.problems] == [name]


def _run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [sys.executable, "-m", "twi_overlay", *args],
        env={**base, **env},
        cwd=ROOT,
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
