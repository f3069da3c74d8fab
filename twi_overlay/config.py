"""Settings from the environment (SPEC §10): one frozen object, validated with clear errors."""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson

DEV_DB_PATH = "./data/app.db"
TWITCH_API_BASE = "https://api.twitch.tv/helix"
TWITCH_AUTH_BASE = "https://id.twitch.tv/oauth2"
LOG_LEVELS = {
    "trace": "DEBUG",
    "debug": "DEBUG",
    "info": "INFO",
    "warn": "WARNING",
    "warning": "WARNING",
    "error": "ERROR",
    "critical": "CRITICAL",
}


class ConfigError(Exception):
    """Every failing check, one line each. Lines name variables, never their values."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    app_env: str = "development"
    base_url: str = "http://127.0.0.1:8080"
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = 8080
    database_path: str = DEV_DB_PATH
    twitch_client_id: str = ""
    twitch_client_secret: str = field(default="", repr=False)
    oauth_redirect_uri: str = ""
    webhook_secret: str = field(default="", repr=False)
    sse_token_signing_key: str = field(default="", repr=False)
    twitch_api_base: str = TWITCH_API_BASE
    twitch_auth_base: str = TWITCH_AUTH_BASE
    sse_heartbeat_secs: float = 25.0
    sse_ring_max: int = 1000
    sse_client_buffer: int = 65536  # unsent bytes a client may lag behind before it is dropped
    sse_token_ttl_secs: int = 300
    ttl_interval_secs: float = 600.0
    retention_hours: float = 72.0
    max_clock_skew_secs: float = 600.0
    shutdown_timeout_secs: float = 5.0
    helix_poll_secs: float = 1.0
    helix_backoff_secs: float = 1.0
    helix_throttle_secs: float = 0.2
    warnings: tuple[str, ...] = ()

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @property
    def development(self) -> bool:
        return not self.production


def _database_path(url: str) -> str:
    # DATABASE_URL is "sqlite://" + the file's path as is: sqlite:///var/x.db -> /var/x.db
    if url.startswith("sqlite://"):
        return url[len("sqlite://") :]
    raise ValueError("DATABASE_URL must start with sqlite://")


def _dev_secrets(db_path: str) -> dict[str, str]:
    """Throw-away development secrets, kept beside the dev database so the CLI and server agree."""
    path = Path(db_path).resolve().parent / ".dev-secrets.json"
    if path.exists():
        try:
            data = orjson.loads(path.read_bytes())
            if isinstance(data, dict) and all(
                isinstance(data.get(k), str) for k in ("WEBHOOK_SECRET", "SSE_TOKEN_SIGNING_KEY")
            ):
                return data
        except orjson.JSONDecodeError:
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"WEBHOOK_SECRET": secrets.token_hex(32), "SSE_TOKEN_SIGNING_KEY": secrets.token_hex(32)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "wb") as fh:
        fh.write(orjson.dumps(data))
    return data


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    problems: list[str] = []
    warnings: list[str] = []

    def get(name: str, default: str = "") -> str:
        return env.get(name, default).strip()

    app_env = get("APP_ENV", "development").lower()
    if app_env in ("prod",):
        app_env = "production"
    if app_env in ("dev", "stg", "staging", "test"):
        app_env = "development"
    if app_env not in ("development", "production"):
        problems.append("APP_ENV: must be 'development' or 'production'")
        app_env = "development"
    production = app_env == "production"

    level_raw = (get("LOG_LEVEL") or get("RUST_LOG") or "info").lower()
    # RUST_LOG may look like "info" or "twi_overlay=debug,info": take the last bare level.
    level = "INFO"
    for part in level_raw.split(","):
        lvl = part.split("=")[-1].strip()
        if lvl in LOG_LEVELS:
            level = LOG_LEVELS[lvl]
    port_s = get("PORT", "8080")
    try:
        port = int(port_s)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        problems.append("PORT: must be an integer 0-65535")
        port = 8080

    db_url = get("DATABASE_URL")
    db_path = DEV_DB_PATH
    if db_url:
        try:
            db_path = _database_path(db_url)
        except ValueError as exc:
            problems.append(f"DATABASE_URL: {exc}")
    elif production:
        problems.append("DATABASE_URL: required in production (sqlite:///var/lib/twi-overlay/data/app.db)")

    def number(name: str, default: float, lo: float, hi: float, kind: type = float) -> float:
        raw = get(name)
        if not raw:
            return default
        try:
            val = kind(raw)
        except ValueError:
            problems.append(f"{name}: must be a number")
            return default
        if not lo <= val <= hi:
            problems.append(f"{name}: must be between {lo:g} and {hi:g}")
            return default
        return val

    heartbeat = number("SSE_HEARTBEAT_SECS", 25.0, 0.05, 3600)
    ring = int(number("SSE_RING_MAX", 1000, 1, 1_000_000, int))
    ttl_interval = number("TTL_INTERVAL_SECS", 600.0, 0.05, 86400)
    token_ttl = int(number("SSE_TOKEN_TTL_SECS", 300, 10, 86400, int))
    helix_poll = number("HELIX_POLL_SECS", 1.0, 0.01, 3600)
    helix_backoff = number("HELIX_BACKOFF_SECS", 1.0, 0.001, 3600)
    helix_throttle = number("HELIX_THROTTLE_SECS", 0.2, 0.0, 60)
    client_buffer = int(number("SSE_CLIENT_BUFFER_BYTES", 65536, 1024, 16 * 1024 * 1024, int))

    client_id = get("TWITCH_CLIENT_ID")
    client_secret = get("TWITCH_CLIENT_SECRET")
    webhook_secret = get("WEBHOOK_SECRET")
    signing_key = get("SSE_TOKEN_SIGNING_KEY")
    base_url = get("APP_BASE_URL", "")
    redirect = get("OAUTH_REDIRECT_URI", "")
    host = get("HOST", "127.0.0.1")

    if production:
        if not client_id:
            problems.append("TWITCH_CLIENT_ID: required in production")
        if not client_secret:
            problems.append("TWITCH_CLIENT_SECRET: required in production")
        if not webhook_secret:
            problems.append("WEBHOOK_SECRET: required in production (32-100 ASCII characters)")
        elif not (webhook_secret.isascii() and 32 <= len(webhook_secret) <= 100):
            problems.append("WEBHOOK_SECRET: must be 32-100 ASCII characters")
        if not signing_key:
            problems.append("SSE_TOKEN_SIGNING_KEY: required in production (at least 32 bytes)")
        elif len(signing_key.encode()) < 32:
            problems.append("SSE_TOKEN_SIGNING_KEY: must be at least 32 bytes")
        if not base_url.startswith("https://"):
            problems.append("APP_BASE_URL: must be an https:// URL in production")
        if not redirect.startswith("https://"):
            problems.append("OAUTH_REDIRECT_URI: must be an https:// URL in production")
    else:
        if webhook_secret and not (webhook_secret.isascii() and 10 <= len(webhook_secret) <= 100):
            problems.append("WEBHOOK_SECRET: must be 10-100 ASCII characters (Twitch's limit)")
        if not webhook_secret or not signing_key:
            if not problems:
                dev = _dev_secrets(db_path)
                webhook_secret = webhook_secret or dev["WEBHOOK_SECRET"]
                signing_key = signing_key or dev["SSE_TOKEN_SIGNING_KEY"]
                warnings.append(
                    "development mode: using throw-away secrets stored beside the database; "
                    "never use them in production"
                )

    if problems:
        raise ConfigError(problems)

    if not base_url:
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
        base_url = f"http://{shown_host}:{port}"
    base_url = base_url.rstrip("/")
    return Settings(
        app_env=app_env,
        base_url=base_url,
        log_level=level,
        host=host,
        port=port,
        database_path=db_path,
        twitch_client_id=client_id,
        twitch_client_secret=client_secret,
        oauth_redirect_uri=redirect or f"{base_url}/oauth/callback",
        webhook_secret=webhook_secret,
        sse_token_signing_key=signing_key,
        twitch_api_base=get("TWITCH_API_BASE", TWITCH_API_BASE).rstrip("/"),
        twitch_auth_base=get("TWITCH_AUTH_BASE", TWITCH_AUTH_BASE).rstrip("/"),
        sse_heartbeat_secs=heartbeat,
        sse_ring_max=ring,
        sse_token_ttl_secs=token_ttl,
        sse_client_buffer=client_buffer,
        helix_poll_secs=helix_poll,
        helix_backoff_secs=helix_backoff,
        helix_throttle_secs=helix_throttle,
        ttl_interval_secs=ttl_interval,
        warnings=tuple(warnings),
    )
