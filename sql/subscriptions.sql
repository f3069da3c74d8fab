-- name: upsert
INSERT INTO eventsub_subscriptions (id, broadcaster_id, type, version, status, resubscribe, created_at, updated_at)
VALUES (:id, :broadcaster_id, :type, :version, :status, :resubscribe, :now, :now)
ON CONFLICT (id) DO UPDATE SET status = excluded.status, resubscribe = excluded.resubscribe,
    updated_at = excluded.updated_at;

-- name: all
SELECT * FROM eventsub_subscriptions ORDER BY broadcaster_id, type;
