"""One JSON error shape for every error: {"error": {"code", "message"}}, and the one place where a
refused command becomes an HTTP status (docs/api.md, "Errors")."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from twi_overlay.domain.outcomes import Refusal, Refused

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_value",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}
REFUSAL_STATUS = {
    Refusal.MALFORMED: 400,
    Refusal.UNKNOWN_COMMAND: 400,
    Refusal.NOT_FOUND: 404,
    Refusal.CONFLICT: 409,
    Refusal.INVALID: 422,
}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


def error_response(
    status: int, code: str | None = None, message: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    code = code or CODES.get(status, "error")
    message = message or code.replace("_", " ")
    return json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


class ApiError(Exception):
    """Raised by a handler; the edge middleware answers with the JSON error."""

    def __init__(
        self, status: int, code: str | None = None, message: str | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(message or code)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers

    @classmethod
    def refused(cls, outcome: Refused) -> ApiError:
        return cls(REFUSAL_STATUS[outcome.kind], outcome.code, outcome.message)

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message, self.headers)
