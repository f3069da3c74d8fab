"""Prometheus metrics (docs/operations.md §10): module-level constants next to a single registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTSUB_INGRESS = Counter("eventsub_ingress_total", "EventSub deliveries accepted", ["type"])
WEBHOOK_ACK_LATENCY = Histogram(
    "webhook_ack_latency_seconds",
    "Time from request to webhook response",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0),
)
EVENTSUB_INVALID_SIGNATURE = Counter(
    "eventsub_invalid_signature_total", "Webhook deliveries refused for signature or timestamp"
)
EVENTSUB_DUPLICATE = Counter("eventsub_duplicate_total", "Webhook deliveries with a message id already seen")
EVENTSUB_REJECTED = Counter("eventsub_rejected_total", "Webhook deliveries refused", ["reason"])
EVENTSUB_PROCESSED = Counter("eventsub_processed_total", "Stored deliveries processed", ["type", "outcome"])
EVENTSUB_PROCESS_RETRIES = Counter(
    "eventsub_process_retries_total", "Stored deliveries put back after a transient database error"
)
EVENTSUB_NOTIFICATIONS = Counter(
    "eventsub_notifications_total", "EventSub deliveries stored, by the transport they came through", ["transport"]
)
EVENTSUB_STORE_FAILED = Counter(
    "eventsub_store_failed_total",
    "WebSocket deliveries our database did not take (left to the catch-up)",
    ["transport"],
)
EVENTSUB_WS_SHARDS = Gauge("eventsub_ws_shards_connected", "Conduit shards with a live WebSocket session")
EVENTSUB_WS_RECONNECTS = Counter(
    "eventsub_ws_reconnects_total", "WebSocket sessions ended or moved, by reason", ["reason"]
)
EVENTSUB_WS_KEEPALIVE_TIMEOUTS = Counter(
    "eventsub_ws_keepalive_timeouts_total", "WebSocket sessions dropped for silence past the keepalive window"
)
EVENTSUB_REVOCATIONS = Counter("eventsub_revocations_total", "Subscription revocations", ["reason"])
SSE_CLIENTS = Gauge("sse_clients", "Connected SSE clients", ["aud"])
SSE_BROADCAST_LATENCY = Histogram(
    "sse_broadcast_latency_seconds",
    "Time to hand one event to every connected client",
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)
SSE_RING_MISS = Counter("sse_ring_miss_total", "Resumes that could not be replayed from the ring")
SSE_RING_BYTES = Gauge("sse_ring_bytes", "Bytes of events kept for replay, all broadcasters")
SSE_RING_EVICTED = Counter(
    "sse_ring_evicted_total", "Events dropped from the replay ring", ["bound"]
)  # count | bytes (per broadcaster) | budget (all broadcasters)
SSE_DROPPED_CLIENTS = Counter("sse_dropped_clients_total", "SSE clients dropped for falling behind")
DB_TTL_DELETED = Counter("db_ttl_deleted_total", "Rows removed by the TTL job", ["table"])
DB_CHECKPOINT_SECONDS = Histogram(
    "db_checkpoint_seconds", "Duration of wal_checkpoint(TRUNCATE)", buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5)
)
DB_MAINTENANCE_FAILURES = Counter("db_maintenance_failures_total", "TTL/checkpoint runs that failed")
OAUTH_VALIDATE_FAILURES = Counter("oauth_validate_failures_total", "Failed /oauth2/validate checks")
POLICY_COMMANDS = Counter("policy_commands_total", "Commands executed", ["type", "result"])
CHAT_MESSAGES = Counter(
    "chat_messages_total",
    "Chat answers by outcome: sent, merged, dropped_over_limit or expired (our pacing), dropped_by_twitch"
    " (is_sent false), error",
    ["outcome"],
)
HELIX_REQUESTS = Counter("helix_requests_total", "Helix API requests", ["endpoint", "status"])
EVENTSUB_SUBSCRIPTIONS = Gauge("eventsub_subscriptions", "EventSub subscriptions known", ["status"])
CATCHUP_FAILURES = Counter("catchup_failures_total", "Missed redemptions the catch-up could not add")
GC_CLEAN_SECONDS = Histogram(
    "gc_clean_seconds",
    "Full garbage-collection passes run by the steward",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
BACKGROUND_RESTARTS = Counter("background_restarts_total", "Background loops started again after a failure", ["loop"])
HTTP_ERRORS = Counter("http_errors_total", "Error responses by status", ["status"])
