"""Edge middleware: every error leaves as the one JSON shape, never a traceback; basic security headers.

One middleware rather than two: it wraps every request, the webhook's ACK path included."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from twi_overlay import keys
from twi_overlay.config import LOOPBACK_HOSTS
from twi_overlay.ops import metrics
from twi_overlay.web.errors import ApiError, error_response

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _foreign_host(request: web.Request) -> bool:
    """A home set-up answers only to the names of this PC: a page elsewhere that points its own domain
    at 127.0.0.1 (DNS rebinding) reaches the port, but with its own name in Host."""
    if not request.app[keys.SETTINGS].loopback_only:
        return False
    host = request.host.lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name not in LOOPBACK_HOSTS


@web.middleware
async def edge_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        if _foreign_host(request):
            raise ApiError(421, "wrong_host", "this server answers only to localhost")
        response = await handler(request)
    except ApiError as exc:
        response = exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.reason
        if exc.status == 405:
            message = f"method {request.method} not allowed here"
        elif exc.status == 404:
            message = f"no route for {request.path}"
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        response = error_response(exc.status, None, message, headers)
    except Exception:
        log.exception("unhandled error", extra={"path": request.path, "method": request.method})
        response = error_response(500, "internal_error", "internal server error")
    if response.status >= 400:
        metrics.HTTP_ERRORS.labels(str(response.status)).inc()
    if not response.prepared and response.status != 204:  # nothing to sniff or to refer from in a 204
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response
