"""Logs: secrets and viewer PII masked in messages, args and extras; JSON in production."""

from __future__ import annotations

import io
import logging

import orjson

from twi_overlay.ops.logs import setup_logging

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMzM3In0.c2lnbmF0dXJlLXZhbHVl"


def _capture(json: bool) -> tuple[logging.Logger, io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = setup_logging("DEBUG", json=json, stream=stream)
    return logging.getLogger("test.masking"), stream, handler


def test_secrets_in_messages_args_and_extra_are_masked() -> None:
    log, stream, handler = _capture(json=False)
    try:
        log.info("refresh with refresh_token=%s and Authorization: Bearer %s", "rt-abcdef123456", "oauth-tok-987")
        log.info("sse url /overlay/sse?token=%s", TOKEN)
        log.warning(
            "headers",
            extra={
                "headers": {
                    "Authorization": "Bearer abc.def.ghi",
                    "Cookie": "twi_session=zzz",
                    "Twitch-Eventsub-Message-Signature": "sha256=" + "a" * 64,
                }
            },
        )
        log.info(
            "redeemed",
            extra={
                "user_name": "SomeViewer",
                "user_input": "my address is 1 Main St",
                "client_secret": "cs-very-secret",
            },
        )
        log.info("client_secret=cs-1234&code=authcode-5678 signature sha256=" + "b" * 64)
    finally:
        logging.getLogger().removeHandler(handler)
    out = stream.getvalue()
    for secret in (
        "rt-abcdef123456",
        "oauth-tok-987",
        TOKEN,
        "abc.def.ghi",
        "zzz",
        "a" * 64,
        "b" * 64,
        "SomeViewer",
        "1 Main St",
        "cs-very-secret",
        "cs-1234",
        "authcode-5678",
    ):
        assert secret not in out, secret
    assert out.count("***") >= 10


def test_json_logs_in_production_shape() -> None:
    log, stream, handler = _capture(json=True)
    try:
        log.info("token issued", extra={"token": TOKEN, "broadcaster_id": "1337"})
        try:
            raise ValueError(f"bad token {TOKEN}")
        except ValueError:
            log.exception("failed")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [orjson.loads(x) for x in stream.getvalue().splitlines()]
    assert lines[0]["message"] == "token issued" and lines[0]["token"] == "***"
    assert lines[0]["broadcaster_id"] == "1337" and lines[0]["level"] == "INFO"
    assert TOKEN not in stream.getvalue() and "ValueError" in lines[1]["exc_info"]
