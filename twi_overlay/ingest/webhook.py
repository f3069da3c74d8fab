"""POST /eventsub/webhook: verify, persist, then ACK (docs/api.md). Nothing slow happens before the answer."""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
from aiohttp import web

from twi_overlay import keys
from twi_overlay.ingest.door import ingress_counter
from twi_overlay.ingest.eventsub import MESSAGE_TYPES, broadcaster_of, fresh, parse_timestamp, signature_ok
from twi_overlay.ops import metrics
from twi_overlay.repo.events import STORE_DELIVERY
from twi_overlay.web.errors import error_response

log = logging.getLogger(__name__)
MAX_BODY = 256 * 1024
H_ID = "Twitch-Eventsub-Message-Id"
H_TS = "Twitch-Eventsub-Message-Timestamp"
H_SIG = "Twitch-Eventsub-Message-Signature"
H_TYPE = "Twitch-Eventsub-Message-Type"
H_SUBTYPE = "Twitch-Eventsub-Subscription-Type"


_BY_WEBHOOK = metrics.EVENTSUB_NOTIFICATIONS.labels("webhook")


class TooLarge(Exception):
    pass


async def _read_body(request: web.Request) -> bytes:
    length = request.content_length  # a property that parses the header on every use: read it once
    if length is not None:
        if length > MAX_BODY:
            raise TooLarge
        content = request.content
        body = content.read_nowait(length)  # a delivery is normally buffered whole by now
        if len(body) < length:
            body += await content.readexactly(length - len(body))
        return body
    chunks = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def eventsub_webhook(request: web.Request) -> web.StreamResponse:
    started = time.perf_counter()
    try:
        return await _handle(request, started)
    finally:
        metrics.WEBHOOK_ACK_LATENCY.observe(time.perf_counter() - started)


def _refuse(status: int, reason: str, message: str) -> web.Response:
    metrics.EVENTSUB_REJECTED.labels(reason).inc()
    return error_response(status, reason, message)


async def _handle(request: web.Request, started: float) -> web.StreamResponse:
    app = request.app
    settings = app[keys.SETTINGS]
    tap = app[keys.TAP]
    try:
        body = await _read_body(request)
    except TooLarge:
        return _refuse(413, "payload_too_large", f"webhook bodies are limited to {MAX_BODY} bytes")
    except asyncio.IncompleteReadError:
        return _refuse(400, "malformed_body", "body shorter than its Content-Length")
    headers = request.headers
    message_id = headers.get(H_ID, "")
    timestamp = headers.get(H_TS, "")
    signature = headers.get(H_SIG, "")
    message_type = headers.get(H_TYPE, "")
    missing = [
        h for h, v in ((H_ID, message_id), (H_TS, timestamp), (H_SIG, signature), (H_TYPE, message_type)) if not v
    ]
    if missing:
        return _refuse(400, "missing_headers", "missing " + ", ".join(missing))
    if not signature_ok(settings.webhook_secret, message_id, timestamp, body, signature):
        metrics.EVENTSUB_INVALID_SIGNATURE.inc()
        tap.record("ingress", message_type, None, None, ok=False, reason="signature")
        return _refuse(403, "invalid_signature", "signature does not match")
    remote_ts = parse_timestamp(timestamp)
    if remote_ts is not None:
        app[keys.CLOCK].observe(remote_ts)
    if not fresh(remote_ts, time.time(), settings.max_clock_skew_secs):
        metrics.EVENTSUB_INVALID_SIGNATURE.inc()
        tap.record("ingress", message_type, None, None, ok=False, reason="timestamp")
        return _refuse(
            403, "stale_timestamp", f"timestamp is more than {settings.max_clock_skew_secs:g} s from the server's clock"
        )
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        log.warning("signed webhook body is not JSON", extra={"message_type": message_type})
        return _refuse(400, "malformed_body", "body is not valid JSON")
    if not isinstance(doc, dict) or not isinstance(doc.get("subscription"), dict):
        log.warning("signed webhook body has no subscription object", extra={"message_type": message_type})
        return _refuse(400, "malformed_body", "body must be an object with a subscription")
    sub = doc["subscription"]
    sub_type = sub.get("type") if isinstance(sub.get("type"), str) else headers.get(H_SUBTYPE, "")

    if message_type == "webhook_callback_verification":
        challenge = doc.get("challenge")
        if not isinstance(challenge, str) or not challenge:
            return _refuse(400, "malformed_body", "verification without a challenge")
        metrics.EVENTSUB_INGRESS.labels("webhook_callback_verification").inc()
        tap.record("ingress", "webhook_callback_verification", broadcaster_of(doc), message_id)
        log.info("subscription verification answered", extra={"subscription_type": sub_type})
        return web.Response(text=challenge, content_type="text/plain")
    if message_type not in MESSAGE_TYPES:
        log.warning("unknown EventSub message type acknowledged", extra={"message_type": message_type[:64]})
        return web.Response(status=204)
    if message_type == "notification" and not isinstance(doc.get("event"), dict):
        return _refuse(400, "malformed_body", "notification without an event object")

    broadcaster_id = broadcaster_of(doc)
    stored = await app[keys.DB].insert_unique(
        STORE_DELIVERY,
        # The columns of repo.events.STORE_DELIVERY, in its order; the body is valid UTF-8 JSON here.
        [message_id, message_type, sub_type or "", broadcaster_id, body.decode(), time.time()],
    )
    ms = (time.perf_counter() - started) * 1000
    if not stored:
        metrics.EVENTSUB_DUPLICATE.inc()
        tap.record("dedupe", sub_type, broadcaster_id, message_id, ok=True, ms=ms, duplicate=True)
        return web.Response(status=204)
    ingress_counter(sub_type if message_type == "notification" else "revocation").inc()
    _BY_WEBHOOK.inc()
    tap.record("ingress", sub_type, broadcaster_id, message_id, ok=True, ms=ms, transport="webhook")
    app[keys.PROCESSOR].ingress()
    return web.Response(status=204)
