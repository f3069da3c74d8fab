"""The edge: one error shape (404/405/500), /healthz 200 and 503, /metrics as Prometheus text."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from twi_overlay import keys
from twi_overlay.app import create_app
from twi_overlay.health import CLOCK

RUNBOOK_METRICS = {
    "eventsub_ingress",
    "webhook_ack_latency_seconds",
    "sse_clients",
    "sse_broadcast_latency_seconds",
    "sse_ring_miss",
    "db_ttl_deleted",
    "db_checkpoint_seconds",
    "eventsub_invalid_signature",
    "oauth_validate_failures",
    "policy_commands",
    "eventsub_duplicate",
    "sse_dropped_clients",
}


async def test_unknown_route_and_wrong_method(client: Any) -> None:
    r = await client.get("/no/such/thing")
    assert r.status == 404 and r.content_type == "application/json"
    assert (await r.json())["error"]["code"] == "not_found"
    r = await client.put("/api/commands")
    assert r.status == 405
    assert (await r.json()) == {"error": {"code": "method_not_allowed", "message": "method PUT not allowed here"}}
    assert "POST" in r.headers["Allow"]


async def test_unexpected_exception_is_a_json_500_without_traceback(aiohttp_client: Any, settings: Any) -> None:
    app = create_app(settings)

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals /etc/passwd")

    app.router.add_get("/boom", boom)
    client = await aiohttp_client(app)
    r = await client.get("/boom")
    assert r.status == 500
    text = await r.text()
    assert (await r.json()) == {"error": {"code": "internal_error", "message": "internal server error"}}
    assert "Traceback" not in text and "passwd" not in text


async def test_healthz_ok(client: Any) -> None:
    r = await client.get("/healthz")
    assert r.status == 200
    body = await r.json()
    assert body["status"] == "ok" and body["checks"]["database"] == {
        "ok": True,
        "journal_mode": "wal",
        "writable": True,
    }


async def test_healthz_503_names_the_clock_when_skewed(client: Any) -> None:
    import time

    client.app[CLOCK].observe(time.time() - 400)
    r = await client.get("/healthz")
    assert r.status == 503
    body = await r.json()
    assert body["failed"] == ["clock"] and body["checks"]["clock"]["skew_s"] >= 399


async def test_healthz_503_names_the_database_when_it_is_gone(client: Any) -> None:
    await client.app[keys.DB].close()
    r = await client.get("/healthz")
    assert r.status == 503
    assert (await r.json())["failed"] == ["database"]


async def test_metrics_parse_as_prometheus_text(client: Any) -> None:
    r = await client.get("/metrics")
    assert r.status == 200 and r.content_type.startswith("text/plain")
    families = {f.name for f in text_string_to_metric_families(await r.text())}
    assert RUNBOOK_METRICS <= families, RUNBOOK_METRICS - families
