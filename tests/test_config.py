"""Configuration: development defaults; every production requirement refused by name."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from tests.helpers import ROOT
from twi_overlay import config
from twi_overlay.config import ConfigError, load_settings

GOOD_PROD = {
    "APP_ENV": "production",
    "ALLOWED_BROADCASTERS": "real_streamer",
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
    # The checkout's data/, wherever it is run from: the server and `twi-overlay token` find the same secrets.
    assert s.database_path == str(ROOT / "data" / "app.db")
    assert s.sse_heartbeat_secs == 25 and s.sse_ring_max == 1000 and s.log_level == "INFO"
    assert len(s.webhook_secret) >= 32 and len(s.sse_token_signing_key) >= 32
    assert any("throw-away" in w for w in s.warnings)
    secrets_file = ROOT / "data" / ".dev-secrets.json"
    assert secrets_file.exists() and oct(secrets_file.stat().st_mode & 0o777) == "0o600"
    assert not (tmp_path / "data").exists()
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


def test_every_setting_is_declared_with_its_variable_and_doc() -> None:
    declared = {f.name for f, _env in config.declared()}
    assert declared == {f.name for f in fields(config.Settings)} - {"warnings"}
    names = [env.name for _f, env in config.declared()]
    assert len(names) == len(set(names)) and all(env.doc for _f, env in config.declared())


def test_the_readme_table_is_generated_from_the_declarations() -> None:
    """`make docs` writes it; this fails when a setting changed and the README did not."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "config-table.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    readme = (ROOT / "README.md").read_text()
    for _f, env in config.declared():
        assert f"| `{env.name}`" in readme


@pytest.mark.parametrize(
    ("name", "value", "field", "expected"),
    [
        ("RETENTION_HOURS", "24", "retention_hours", 24.0),
        ("EVENTSUB_MAX_SKEW_SECS", "120", "max_clock_skew_secs", 120.0),
        ("SHUTDOWN_TIMEOUT_SECS", "2.5", "shutdown_timeout_secs", 2.5),
        ("SSE_RING_MAX", "50", "sse_ring_max", 50),
        ("TWITCH_API_BASE", "http://127.0.0.1:9/helix/", "twitch_api_base", "http://127.0.0.1:9/helix"),
    ],
)
def test_settings_from_the_environment(name: str, value: str, field: str, expected: object) -> None:
    assert getattr(load_settings({**GOOD_PROD, name: value}), field) == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RETENTION_HOURS", "0"),
        ("EVENTSUB_MAX_SKEW_SECS", "3600"),  # never wider than Twitch's ten minutes
        ("SHUTDOWN_TIMEOUT_SECS", "soon"),
        ("SSE_HEARTBEAT_SECS", "0"),
        ("APP_ENV", "prodution"),
    ],
)
def test_out_of_range_values_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({**GOOD_PROD, name: value})
    assert [p.split(":")[0] for p in info.value.problems] == [name]


HOME = {k: v for k, v in GOOD_PROD.items() if k not in ("APP_BASE_URL", "OAUTH_REDIRECT_URI", "WEBHOOK_SECRET")}


def test_a_home_production_setup_serves_localhost_over_http_with_the_conduit_transport() -> None:
    """No public site: the pages are for this PC, Twitch redirects to localhost, no webhook to sign."""
    s = load_settings({**HOME, "EVENTSUB_TRANSPORT": "conduit"})
    assert s.production and s.conduit and s.host == "127.0.0.1"
    assert s.base_url == "http://localhost:8080" and s.oauth_redirect_uri == "http://localhost:8080/oauth/callback"
    for url in ("http://localhost:9000", "http://127.0.0.1:8080", "http://[::1]:8080"):
        given = load_settings({**HOME, "EVENTSUB_TRANSPORT": "conduit", "APP_BASE_URL": url})
        assert given.base_url == url and given.oauth_redirect_uri == url + "/oauth/callback"


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({}, "APP_BASE_URL: must be an https:// URL"),  # the webhook transport needs a public https site
        ({"EVENTSUB_TRANSPORT": "conduit", "APP_BASE_URL": "http://overlay.example.com"}, "APP_BASE_URL"),
        ({"EVENTSUB_TRANSPORT": "conduit", "APP_BASE_URL": "http://localhost.example.com"}, "APP_BASE_URL"),
        ({"EVENTSUB_TRANSPORT": "conduit", "OAUTH_REDIRECT_URI": "http://example.com/cb"}, "OAUTH_REDIRECT_URI"),
        ({"EVENTSUB_TRANSPORT": "conduit", "SSE_TOKEN_SIGNING_KEY": "short"}, "SSE_TOKEN_SIGNING_KEY"),
        ({"EVENTSUB_TRANSPORT": "conduit", "WEBHOOK_SECRET": "weak"}, "WEBHOOK_SECRET"),
        ({"EVENTSUB_TRANSPORT": "websocket"}, "EVENTSUB_TRANSPORT: must be 'webhook' or 'conduit'"),
        ({"EVENTSUB_TRANSPORT": "conduit", "TWITCH_EVENTSUB_WS_URL": "https://x"}, "TWITCH_EVENTSUB_WS_URL"),
        ({"EVENTSUB_TRANSPORT": "conduit", "CONDUIT_SHARDS": "1"}, "CONDUIT_SHARDS: must be between 2 and 20"),
        ({"EVENTSUB_TRANSPORT": "conduit", "EVENTSUB_WS_KEEPALIVE_SECS": "5"}, "EVENTSUB_WS_KEEPALIVE_SECS"),
    ],
)
def test_a_home_setup_still_refuses_what_is_unsafe(extra: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({**HOME, **extra})
    assert any(line.startswith(problem) for line in err.value.problems), err.value.problems


def test_the_home_command_needs_only_the_twitch_application(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`twi-overlay home`: two values, the rest a home production set-up; what is given wins."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(config, "SOURCE_ROOT", tmp_path / "not-a-checkout")
    given = {"TWITCH_CLIENT_ID": "id", "TWITCH_CLIENT_SECRET": "secret"}
    env = config.home_environ(given)
    s = load_settings(env)
    assert s.production and s.conduit and s.host == "127.0.0.1" and s.base_url == "http://localhost:8080"
    assert s.database_path == str(tmp_path / "xdg" / "twi-overlay" / "app.db")
    assert s.allowed_broadcasters == ("*",) and s.operators == ("*",) and len(s.sse_token_signing_key) == 64
    kept = tmp_path / "xdg" / "twi-overlay" / ".home-secrets.json"
    assert kept.stat().st_mode & 0o777 == 0o600
    assert config.home_environ(given)["SSE_TOKEN_SIGNING_KEY"] == s.sse_token_signing_key  # kept, not remade
    mine = config.home_environ({**given, "ALLOWED_BROADCASTERS": "me", "PORT": "9000", "APP_ENV": "development"})
    assert (mine["ALLOWED_BROADCASTERS"], mine["APP_ENV"]) == ("me", "development")
    assert config.home_problems(given, env) == []
    wide = config.home_environ({**given, "HOST": "0.0.0.0"})  # noqa: S104
    assert config.home_problems({**given, "HOST": "0.0.0.0"}, wide)[0].startswith("ALLOWED_BROADCASTERS")  # noqa: S104


def test_env_files_are_read_like_systemds_and_a_bad_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "f.env"
    path.write_text("# comment\n\nexport A=1\nB = 'two words'\nC=\"x=y\"\nD=\n")
    assert config.read_env_file(path) == {"A": "1", "B": "two words", "C": "x=y", "D": ""}
    path.write_text("A=1\nthis is not a setting\n")
    with pytest.raises(ValueError, match="line 2 is not KEY=VALUE"):
        config.read_env_file(path)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "twi_overlay", "home", "--env-file", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 2 and "config error: --env-file:" in proc.stderr and "line 2" in proc.stderr
