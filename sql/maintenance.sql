-- TTL (docs/operations.md §11): chunks of 1000 by rowid. SQLite-only on purpose: Python's sqlite3
-- has no DELETE ... LIMIT, and a rowid subquery is how the chunking is done there (PostgreSQL would use ctid).

-- name: ttl_event_raw
-- Only processed deliveries expire: an unprocessed one is work we still owe.
DELETE FROM event_raw WHERE rowid IN (
    SELECT rowid FROM event_raw WHERE received_at < :cutoff AND processed_at IS NOT NULL LIMIT 1000);

-- name: ttl_command_log
DELETE FROM command_log WHERE rowid IN (
    SELECT rowid FROM command_log WHERE ts < :cutoff LIMIT 1000);

-- name: expire_sessions
DELETE FROM sessions WHERE expires_at < :now;
