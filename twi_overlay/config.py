"""Settings from the environment: each declared once, below, with its variable, default, bounds and doc.

`load_settings()` reads every declared variable, checks it, then applies the rules that tie settings
together (what production requires, the development secrets, defaults derived from others). Every
failing check is reported at once, one line each, naming the variable and never printing its value.
The README's configuration table is generated from these declarations (`make docs`).
"""

from __future__ import annotations

import functools
import ipaddress
import os
import secrets
import stat
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import orjson

from twi_overlay import SOURCE_ROOT

T = TypeVar("T")
TWITCH_API_BASE = "https://api.twitch.tv/helix"
TWITCH_AUTH_BASE = "https://id.twitch.tv/oauth2"
TWITCH_EVENTSUB_WS_URL = "wss://eventsub.wss.twitch.tv/ws"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
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
class Env:
    """How one setting is read from the environment."""

    name: str
    doc: str
    shown_default: str | None = None  # for the docs, when the default is computed or secret
    lo: float | None = None
    hi: float | None = None
    parse: Callable[[str], Any] | None = None  # raises ValueError(message) for a bad value
    also: tuple[str, ...] = ()  # other variables read when `name` is unset
    secret: bool = False


def setting(default: T, name: str, doc: str, **how: Any) -> T:
    env = Env(name, doc, **how)
    return field(default=default, repr=not env.secret, metadata={"env": env})


def default_data_dir() -> Path:
    """Where development keeps its database and throw-away secrets: `data/` of the checkout the package
    runs from (so `make run` and `twi-overlay token` agree from any directory), or the user's data
    directory for an installed package (%LOCALAPPDATA% on Windows)."""
    if (SOURCE_ROOT / "pyproject.toml").exists():
        return SOURCE_ROOT / "data"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "twi-overlay"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "twi-overlay"


def _app_env(raw: str) -> str:
    """Exactly one of the two profiles. Anything else is refused, never read as development: that
    profile has an unauthenticated login, mocks and generated secrets (a staging host runs production
    with its own env file)."""
    if raw not in ("development", "production"):
        raise ValueError(f"must be 'development' or 'production', not {raw!r} (staging runs 'production')")
    return raw


def _addresses(raw: str) -> tuple[str, ...]:
    """Comma-separated IP addresses, each checked."""
    out = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(str(ipaddress.ip_address(part)))
        except ValueError:
            raise ValueError(f"{part!r} is not an IP address") from None
    return tuple(out)


def _names(raw: str) -> tuple[str, ...]:
    """Comma-separated Twitch logins (any case) or numeric user ids, or `*` alone for everyone."""
    names = tuple(dict.fromkeys(part.strip().lower() for part in raw.split(",") if part.strip()))
    if "*" in names and names != ("*",):
        raise ValueError("`*` stands alone: everyone, or a list of logins and ids")
    for name in names:
        if name != "*" and not all(c.isalnum() or c == "_" for c in name):
            raise ValueError(f"{name!r} is not a Twitch login or user id")
    return names


def _log_level(raw: str) -> str:
    # RUST_LOG may look like "info" or "twi_overlay=debug,info": take the last bare level.
    level = "INFO"
    for part in raw.lower().split(","):
        name = part.split("=")[-1].strip()
        if name in LOG_LEVELS:
            level = LOG_LEVELS[name]
    return level


def _database_path(raw: str) -> str:
    # "sqlite://" + the file's path as is: sqlite:///var/x.db -> /var/x.db
    if not raw.startswith("sqlite://"):
        raise ValueError("must start with sqlite://")
    return raw[len("sqlite://") :]


def _url(raw: str) -> str:
    return raw.rstrip("/")


def _transport(raw: str) -> str:
    if raw not in ("webhook", "conduit"):
        raise ValueError(f"must be 'webhook' or 'conduit', not {raw!r}")
    return raw


def _ws_url(raw: str) -> str:
    if not raw.startswith(("wss://", "ws://")):
        raise ValueError("must be a ws:// or wss:// URL")
    return raw


def loopback_url(url: str) -> bool:
    """http://localhost, 127.0.0.1 or [::1], any port: a page on the same PC, which browsers and Twitch's
    OAuth redirect check treat as a secure origin."""
    rest = url.removeprefix("http://")
    if rest == url:
        return False
    host = rest.split("/", 1)[0]
    host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return host in LOOPBACK_HOSTS


@dataclass(frozen=True)
class Settings:
    app_env: str = setting(
        "development",
        "APP_ENV",
        "exactly `development` or `production` (anything else stops start-up); `production`: every secret"
        " required, JSON logs, mocks off, `/_debug/*` admin-only",
        parse=_app_env,
    )
    base_url: str = setting(
        "",
        "APP_BASE_URL",
        "the public URL; https required in production, except http://localhost with the conduit transport",
        shown_default="`http://HOST:PORT`",
        parse=_url,
    )
    log_level: str = setting(
        "INFO",
        "LOG_LEVEL",
        "`debug`, `info`, `warning` or `error`; `RUST_LOG` (docs/operations.md §4) is read when `LOG_LEVEL` is unset",
        shown_default="`info`",
        also=("RUST_LOG",),
        parse=_log_level,
    )
    host: str = setting("127.0.0.1", "HOST", "address to listen on")
    port: int = setting(8080, "PORT", "port to listen on", lo=0, hi=65535)
    database_path: str = setting(
        "",
        "DATABASE_URL",
        "`sqlite://` + the file's path as is: `sqlite:///var/lib/twi-overlay/data/app.db`; required in production",
        shown_default="`data/app.db` of the checkout",
        parse=_database_path,
    )
    allowed_broadcasters: tuple[str, ...] = setting(
        (),
        "ALLOWED_BROADCASTERS",
        "Twitch logins or user ids that may sign in, comma-separated, or `*` for an open multi-tenant host;"
        " required in production",
        shown_default="`*` in development",
        parse=_names,
    )
    operators: tuple[str, ...] = setting(
        (),
        "OPERATORS",
        "Twitch logins or user ids that may run what touches every tenant from the web (maintenance,"
        " subscription reconcile, the whole `/_debug/tap`); the command line always may",
        shown_default="`*` in development, nobody in production",
        parse=_names,
    )
    twitch_client_id: str = setting("", "TWITCH_CLIENT_ID", "your app's client id; required in production")
    twitch_client_secret: str = setting(
        "", "TWITCH_CLIENT_SECRET", "your app's client secret; required in production", secret=True
    )
    oauth_redirect_uri: str = setting(
        "",
        "OAUTH_REDIRECT_URI",
        "the redirect URL registered with Twitch; https required in production, except http://localhost"
        " with the conduit transport",
        shown_default="`APP_BASE_URL/oauth/callback`",
    )
    webhook_secret: str = setting(
        "",
        "WEBHOOK_SECRET",
        "signs EventSub deliveries; 10-100 ASCII characters, production: 32-100",
        shown_default="generated in development",
        secret=True,
    )
    sse_token_signing_key: str = setting(
        "",
        "SSE_TOKEN_SIGNING_KEY",
        "signs stream and API tokens; production: at least 32 bytes",
        shown_default="generated in development",
        secret=True,
    )
    twitch_api_base: str = setting(TWITCH_API_BASE, "TWITCH_API_BASE", "Helix base URL (tests use a fake)", parse=_url)
    twitch_auth_base: str = setting(
        TWITCH_AUTH_BASE, "TWITCH_AUTH_BASE", "OAuth base URL (tests use a fake)", parse=_url
    )
    eventsub_transport: str = setting(
        "webhook",
        "EVENTSUB_TRANSPORT",
        "`webhook` (Twitch calls APP_BASE_URL/eventsub/webhook: a public https site) or `conduit` (we open"
        " WebSockets to Twitch: no inbound connection, runs on a home PC)",
        parse=_transport,
    )
    twitch_eventsub_ws_url: str = setting(
        TWITCH_EVENTSUB_WS_URL,
        "TWITCH_EVENTSUB_WS_URL",
        "EventSub WebSocket URL for the conduit transport (tests use a fake)",
        parse=_ws_url,
    )
    conduit_shards: int = setting(
        2, "CONDUIT_SHARDS", "conduit transport: WebSocket sessions (shards) kept open", lo=2, hi=20
    )
    eventsub_ws_keepalive_secs: int = setting(
        10,
        "EVENTSUB_WS_KEEPALIVE_SECS",
        "conduit transport: silence after which Twitch sends a keepalive; a longer one (plus a grace) and"
        " the session is replaced",
        lo=10,
        hi=600,
    )
    eventsub_ws_retry_secs: float = setting(
        1.0,
        "EVENTSUB_WS_RETRY_SECS",
        "conduit transport: first delay before a failed session is opened again (doubling, with jitter, up to 2 min)",
        lo=0.01,
        hi=120,
    )
    sse_heartbeat_secs: float = setting(
        25.0, "SSE_HEARTBEAT_SECS", "`:heartbeat` comment interval on every stream", lo=0.05, hi=3600
    )
    sse_ring_max: int = setting(1000, "SSE_RING_MAX", "events kept per broadcaster for replay", lo=1, hi=1_000_000)
    sse_ring_bytes: int = setting(
        512 * 1024,
        "SSE_RING_BYTES",
        "replay bytes kept per broadcaster (the newest event is always kept)",
        lo=1024,
        hi=1024 * 1024 * 1024,
    )
    sse_ring_budget_bytes: int = setting(
        64 * 1024 * 1024,
        "SSE_RING_BUDGET_BYTES",
        "replay bytes kept for all broadcasters together; the oldest events go first",
        lo=64 * 1024,
        hi=16 * 1024 * 1024 * 1024,
    )
    sse_client_buffer: int = setting(
        65536,
        "SSE_CLIENT_BUFFER_BYTES",
        "unsent bytes a stream may lag before it is dropped (it resumes by replay)",
        lo=1024,
        hi=16 * 1024 * 1024,
    )
    sse_max_streams_per_broadcaster: int = setting(
        1000,
        "SSE_MAX_STREAMS_PER_BROADCASTER",
        "open streams one broadcaster may have (overlays and admin pages together); 429 beyond",
        lo=1,
        hi=1_000_000,
    )
    sse_max_streams_per_client: int = setting(
        50, "SSE_MAX_STREAMS_PER_CLIENT", "open streams from one client address; 429 beyond", lo=1, hi=1_000_000
    )
    trusted_proxies: tuple[str, ...] = setting(
        ("127.0.0.1", "::1"),
        "TRUSTED_PROXIES",
        "peers whose `X-Forwarded-For` is believed (nginx on this host); comma-separated IPs",
        shown_default="`127.0.0.1,::1`",
        parse=_addresses,
    )
    metrics_allow: tuple[str, ...] = setting(
        ("127.0.0.1", "::1"),
        "METRICS_ALLOW",
        "client addresses that may read `/metrics` in production, whatever the headers say",
        shown_default="`127.0.0.1,::1`",
        parse=_addresses,
    )
    sse_token_ttl_secs: int = setting(
        300, "SSE_TOKEN_TTL_SECS", "lifetime of tokens from `POST /api/sse-token`", lo=10, hi=86400
    )
    ttl_interval_secs: float = setting(600.0, "TTL_INTERVAL_SECS", "TTL + checkpoint job interval", lo=0.05, hi=86400)
    retention_hours: float = setting(
        72.0, "RETENTION_HOURS", "how long deliveries and the command log are kept", lo=1, hi=24 * 365
    )
    max_clock_skew_secs: float = setting(
        600.0,
        "EVENTSUB_MAX_SKEW_SECS",
        "a delivery's timestamp may be this far from our clock; `/healthz` fails at half of it",
        lo=10,
        hi=600,
    )
    shutdown_timeout_secs: float = setting(
        5.0,
        "SHUTDOWN_TIMEOUT_SECS",
        "time requests get to finish on SIGTERM (keep it under systemd's TimeoutStopSec)",
        lo=0,
        hi=60,
    )
    helix_poll_secs: float = setting(
        1.0, "HELIX_POLL_SECS", "status-update worker: idle poll interval", lo=0.01, hi=3600
    )
    helix_backoff_secs: float = setting(
        1.0, "HELIX_BACKOFF_SECS", "status-update worker: first retry delay after a 5xx", lo=0.001, hi=3600
    )
    helix_backoff_max_secs: float = setting(
        300.0,
        "HELIX_BACKOFF_MAX_SECS",
        "status-update worker: longest wait between two tries (it never gives up on 5xx or timeouts)",
        lo=1,
        hi=86400,
    )
    helix_throttle_secs: float = setting(
        0.2, "HELIX_THROTTLE_SECS", "status-update worker: pause between two requests", lo=0.0, hi=60
    )
    warnings: tuple[str, ...] = ()  # said once at start-up (development secrets)

    def allows(self, names: tuple[str, ...], user_id: str, login: str) -> bool:
        return "*" in names or user_id in names or login.lower() in names

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @property
    def development(self) -> bool:
        return not self.production

    @property
    def conduit(self) -> bool:
        return self.eventsub_transport == "conduit"

    @functools.cached_property  # read by the edge middleware on every request
    def loopback_only(self) -> bool:
        """A production home set-up: served on http://localhost, to this PC only."""
        return self.production and self.conduit and loopback_url(self.base_url)

    @property
    def twitch_configured(self) -> bool:
        return bool(self.twitch_client_id and self.twitch_client_secret)


def declared() -> list[tuple[Field[Any], Env]]:
    """Every setting read from the environment, in declaration order."""
    return [(f, f.metadata["env"]) for f in fields(Settings) if "env" in f.metadata]


def _num(value: float | None) -> str:
    return "" if value is None else str(int(value)) if float(value).is_integer() else f"{value:g}"


def _convert(raw: str, kind: Any, env: Env) -> Any:
    if env.parse is not None:
        return env.parse(raw)
    if kind in (int, "int", float, "float"):
        number_type = int if kind in (int, "int") else float
        try:
            value = number_type(raw)
        except ValueError:
            raise ValueError("must be an integer" if number_type is int else "must be a number") from None
        if (env.lo is not None and value < env.lo) or (env.hi is not None and value > env.hi):
            raise ValueError(f"must be between {_num(env.lo)} and {_num(env.hi)}")
        return value
    return raw


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    values: dict[str, Any] = {}
    given: set[str] = set()
    for f, env in declared():
        raw = next((environ[n].strip() for n in (env.name, *env.also) if environ.get(n, "").strip()), None)
        if raw is None:
            continue
        given.add(f.name)  # set, even if its value is refused below
        try:
            values[f.name] = _convert(raw, f.type, env)
        except ValueError as exc:
            problems.append(f"{env.name}: {exc}")
    settings = Settings(**values)
    problems += _production_problems(settings, given) if settings.production else _development_problems(settings)
    if problems:
        raise ConfigError(problems)
    return _complete(settings, given)


def _production_problems(s: Settings, given: set[str]) -> list[str]:
    problems = []
    if "database_path" not in given:
        problems.append("DATABASE_URL: required in production (sqlite:///var/lib/twi-overlay/data/app.db)")
    if not s.allowed_broadcasters:
        problems.append(
            "ALLOWED_BROADCASTERS: required in production (your Twitch login, or * for an open multi-tenant host)"
        )
    if not s.twitch_client_id:
        problems.append("TWITCH_CLIENT_ID: required in production")
    if not s.twitch_client_secret:
        problems.append("TWITCH_CLIENT_SECRET: required in production")
    if not s.webhook_secret:
        if not s.conduit:  # the conduit transport has no webhook to sign
            problems.append("WEBHOOK_SECRET: required in production (32-100 ASCII characters)")
    elif not (s.webhook_secret.isascii() and 32 <= len(s.webhook_secret) <= 100):
        problems.append("WEBHOOK_SECRET: must be 32-100 ASCII characters")
    if not s.sse_token_signing_key:
        problems.append("SSE_TOKEN_SIGNING_KEY: required in production (at least 32 bytes)")
    elif len(s.sse_token_signing_key.encode()) < 32:
        problems.append("SSE_TOKEN_SIGNING_KEY: must be at least 32 bytes")
    # At home (the conduit transport) the pages are served to this PC only: http://localhost is a secure
    # origin for browsers and an allowed OAuth redirect for Twitch. Anything else needs https.
    home = s.conduit and (not s.base_url or loopback_url(s.base_url))
    shown = " (or http://localhost with EVENTSUB_TRANSPORT=conduit)"
    if not s.base_url.startswith("https://") and not home:
        problems.append("APP_BASE_URL: must be an https:// URL in production" + shown)
    if s.oauth_redirect_uri and not s.oauth_redirect_uri.startswith("https://"):
        if not (s.conduit and loopback_url(s.oauth_redirect_uri)):
            problems.append("OAUTH_REDIRECT_URI: must be an https:// URL in production" + shown)
    return problems


def _development_problems(s: Settings) -> list[str]:
    if s.webhook_secret and not (s.webhook_secret.isascii() and 10 <= len(s.webhook_secret) <= 100):
        return ["WEBHOOK_SECRET: must be 10-100 ASCII characters (Twitch's limit)"]
    return []


def _complete(s: Settings, given: set[str]) -> Settings:
    """Defaults that depend on other settings, and development's throw-away secrets."""
    changes: dict[str, Any] = {}
    database_path = s.database_path or str(default_data_dir() / "app.db")
    changes["database_path"] = database_path
    base_url = s.base_url
    if not base_url:
        shown_host = "127.0.0.1" if s.host in ("0.0.0.0", "::", "") else s.host  # noqa: S104
        if s.conduit and shown_host == "127.0.0.1":
            shown_host = "localhost"  # what a Twitch application's redirect URL is registered with at home
        base_url = changes["base_url"] = f"http://{shown_host}:{s.port}"
    if not s.oauth_redirect_uri:
        changes["oauth_redirect_uri"] = f"{base_url}/oauth/callback"
    if s.development:  # one person on their own machine
        changes["allowed_broadcasters"] = s.allowed_broadcasters or ("*",)
        changes["operators"] = s.operators or ("*",)
    if s.development and not (s.webhook_secret and s.sse_token_signing_key):
        dev = _dev_secrets(database_path)
        changes["webhook_secret"] = s.webhook_secret or dev["WEBHOOK_SECRET"]
        changes["sse_token_signing_key"] = s.sse_token_signing_key or dev["SSE_TOKEN_SIGNING_KEY"]
        changes["warnings"] = (
            "development mode: using throw-away secrets stored beside the database; never use them in production",
        )
    return Settings(**{**{f.name: getattr(s, f.name) for f in fields(Settings)}, **changes})


def _dev_secrets(db_path: str) -> dict[str, str]:
    """Throw-away development secrets, kept beside the development database so the CLI and server agree."""
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


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (systemd's EnvironmentFile, `.env`): blank lines and `#` comments skipped, an
    `export ` prefix and one pair of surrounding quotes removed. Raises ValueError naming the bad line."""
    found: dict[str, str] = {}
    for n, raw in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key.replace("_", "").isalnum():
            raise ValueError(f"{path}: line {n} is not KEY=VALUE")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        found[key] = value
    return found


def home_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """`twi-overlay home`: production with the conduit transport on this PC, needing only
    TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET. The rest defaults to a home set-up (anything given wins):
    loopback only, http://localhost:PORT, the database in the user's data directory, a signing key made
    once and kept beside it (readable by this user only), and every Twitch account that reaches the
    page may sign in and run maintenance: only people at this PC can reach it."""
    env = dict(environ)
    data = default_data_dir() if not env.get("DATABASE_URL") else Path(_database_path(env["DATABASE_URL"])).parent
    for key, value in {
        "APP_ENV": "production",
        "EVENTSUB_TRANSPORT": "conduit",
        "HOST": "127.0.0.1",
        "DATABASE_URL": f"sqlite://{data / 'app.db'}",
        "ALLOWED_BROADCASTERS": "*",
        "OPERATORS": "*",
    }.items():
        if not env.get(key, "").strip():
            env[key] = value
    if not env.get("SSE_TOKEN_SIGNING_KEY", "").strip():
        env["SSE_TOKEN_SIGNING_KEY"] = _kept_secret(data / ".home-secrets.json", "SSE_TOKEN_SIGNING_KEY")
    return env


def home_problems(environ: Mapping[str, str], env: Mapping[str, str]) -> list[str]:
    """What `home` refuses: everyone may sign in there only because nobody else can reach the page."""
    try:
        loopback = ipaddress.ip_address(env["HOST"]).is_loopback
    except ValueError:
        loopback = env["HOST"] == "localhost"
    if not loopback and not environ.get("ALLOWED_BROADCASTERS", "").strip():
        return ["ALLOWED_BROADCASTERS: required when HOST is not a loopback address (others could sign in)"]
    return []


def _kept_secret(path: Path, name: str) -> str:
    """A random secret made once and kept in `path` (mode 0600), so sessions survive restarts."""
    try:
        data = orjson.loads(path.read_bytes())
        if isinstance(data, dict) and isinstance(data.get(name), str) and len(data[name]) >= 32:
            return str(data[name])
    except (OSError, orjson.JSONDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "wb") as fh:
        fh.write(orjson.dumps({name: value}))
    return value


def markdown_table() -> str:
    """The README's configuration table, from the declarations above."""
    lines = ["| variable | default | notes |", "|---|---|---|"]
    for f, env in declared():
        name = " / ".join(f"`{n}`" for n in (env.name, *env.also))
        if env.shown_default is not None:
            default = env.shown_default
        elif f.default in ("", None):
            default = "—"
        else:
            default = f"`{_num(f.default)}`" if isinstance(f.default, float) else f"`{f.default}`"
        bounds = ""
        if env.lo is not None and env.hi is not None:
            bounds = f" ({_num(env.lo)}–{_num(env.hi)})"
        lines.append(f"| {name} | {default} | {env.doc}{bounds} |")
    return "\n".join(lines) + "\n"
