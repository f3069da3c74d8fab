"""Logging: JSON in production, readable text in development, secrets and viewer PII masked everywhere."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

MASK = "***"
# Keys whose values are never printed (record attributes from `extra=`, dict keys in args).
SENSITIVE_KEYS = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "secret",
        "client_secret",
        "webhook_secret",
        "password",
        "authorization",
        "cookie",
        "set-cookie",
        "set_cookie",
        "key",
        "overlay_key",
        "code",
        "signing_key",
        "sse_token_signing_key",
        "twitch-eventsub-message-signature",
        "signature",
        # viewer PII
        "user_id",
        "user_login",
        "user_name",
        "user_input",
    }
)
_PATTERNS = [
    (re.compile(r"(?i)\b(bearer|oauth)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + MASK),
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), MASK),  # JWTs
    (re.compile(r"sha256=[0-9a-fA-F]{16,}"), "sha256=" + MASK),
    (
        re.compile(
            r"(?i)\b((?:access_|refresh_|id_)?token|client_secret|secret|password|key|code|session)"
            r"(\s*[=:]\s*[\"']?)([^\s&\"',;}]+)"
        ),
        r"\1\2" + MASK,
    ),
]
_STD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "taskName"}


def mask_text(text: str) -> str:
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def mask_value(value: Any, key: str | None = None) -> Any:
    if key is not None and key.lower() in SENSITIVE_KEYS:
        return MASK
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_value(v) for v in value)
    return value


class MaskingFilter(logging.Filter):
    """Rewrites each record in place so that no handler or formatter ever sees a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not kill logging
            message = str(record.msg)
        record.msg = mask_text(message)
        record.args = None
        for attr, value in list(vars(record).items()):
            if attr in _STD_ATTRS:
                continue
            setattr(record, attr, mask_value(value, attr))
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = {k: v for k, v in vars(record).items() if k not in _STD_ATTRS and not k.startswith("_")}
        if extras:
            base += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return base


class AppHandler(logging.StreamHandler[Any]):
    """Ours: replaced, not added to, when logging is set up again (tests, the CLI)."""


def setup_logging(level: str = "INFO", json: bool = False, stream: Any = None) -> logging.Handler:
    handler = AppHandler(stream or sys.stderr)
    if json:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s", rename_fields={"levelname": "level", "asctime": "ts"}
            )
        )
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, AppHandler):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("yoyo").setLevel(logging.WARNING)
    return handler
