-- name: get
SELECT version, doc FROM settings WHERE broadcaster_id = :broadcaster_id;

-- name: insert
INSERT INTO settings (broadcaster_id, version, doc, updated_at) VALUES (:broadcaster_id, :version, :doc, :now)
ON CONFLICT (broadcaster_id) DO NOTHING;

-- name: update
-- Optimistic concurrency: only the version the caller read may be replaced.
UPDATE settings SET version = version + 1, doc = :doc, updated_at = :now
WHERE broadcaster_id = :broadcaster_id AND version = :version;

-- name: chat_enabled
-- The channels with chat commands on (their settings document says so).
SELECT broadcaster_id FROM settings WHERE json_extract(doc, '$.chat.enabled') = 1 ORDER BY broadcaster_id;
