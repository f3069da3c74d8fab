"""GET /metrics: Prometheus text with every metric docs/operations.md §10 names."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

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


async def test_metrics_parse_as_prometheus_text(client: Any) -> None:
    r = await client.get("/metrics")
    assert r.status == 200 and r.content_type.startswith("text/plain")
    families = {f.name for f in text_string_to_metric_families(await r.text())}
    assert RUNBOOK_METRICS <= families, RUNBOOK_METRICS - families
