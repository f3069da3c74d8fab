-- TTL (docs/operations.md §11): chunks of at most 1000 rows, each its own short transaction.

-- name: ttl_event_raw_window
-- event_raw has no index on received_at (every index costs the webhook's ACK), but ids follow arrival:
-- the TTL walks the table in windows of ids, so a chunk reads at most :limit rows by primary key
-- instead of scanning the whole table whenever fewer than 1000 rows have expired.
SELECT id, received_at FROM event_raw WHERE id > :after ORDER BY id LIMIT :limit;

-- name: ttl_event_raw
-- Only processed deliveries expire: an unprocessed one is work we still owe.
DELETE FROM event_raw WHERE id > :after AND id <= :last AND received_at < :cutoff AND processed_at IS NOT NULL;

-- name: ttl_command_log
-- Through the index on ts. SQLite-only on purpose: Python's sqlite3 has no DELETE ... LIMIT, and a rowid
-- subquery is how a delete is chunked there (PostgreSQL would use ctid).
DELETE FROM command_log WHERE rowid IN (
    SELECT rowid FROM command_log WHERE ts < :cutoff LIMIT 1000);

-- name: expire_sessions
DELETE FROM sessions WHERE expires_at < :now;
