"""The one error shape, and the one place a refused command becomes an HTTP status."""

from __future__ import annotations

import orjson

from twi_overlay.domain.outcomes import Refusal, Refused
from twi_overlay.web.errors import REFUSAL_STATUS, ApiError, error_response


def test_every_refusal_kind_has_a_status() -> None:
    assert set(REFUSAL_STATUS) == set(Refusal)
    error = ApiError.refused(Refused(Refusal.NOT_FOUND, "unknown_entry", "no entry 3 in the queue"))
    assert (error.status, error.code, error.message) == (404, "unknown_entry", "no entry 3 in the queue")
    assert [REFUSAL_STATUS[k] for k in (Refusal.MALFORMED, Refusal.CONFLICT, Refusal.INVALID)] == [400, 409, 422]


def test_the_shape() -> None:
    response = error_response(413)
    assert response.status == 413 and response.content_type == "application/json"
    assert response.body is not None
    assert orjson.loads(response.body) == {  # type: ignore[arg-type]
        "error": {"code": "payload_too_large", "message": "payload too large"}
    }
