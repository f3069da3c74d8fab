-- name: upsert
INSERT INTO eventsub_subscriptions (id, broadcaster_id, type, version, status, resubscribe, created_at, updated_at)
VALUES (:id, :broadcaster_id, :type, :version, :status, :resubscribe, :now, :now)
ON CONFLICT (id) DO UPDATE SET status = excluded.status, resubscribe = excluded.resubscribe,
    updated_at = excluded.updated_at;

-- name: of_broadcaster
SELECT * FROM eventsub_subscriptions WHERE broadcaster_id = :broadcaster_id ORDER BY type, id;

-- name: count_resubscribe
-- Revoked for a reason that calls for re-creation, not yet re-created.
SELECT count(*) FROM eventsub_subscriptions WHERE resubscribe = 1;

-- name: clear_resubscribe
UPDATE eventsub_subscriptions SET resubscribe = 0 WHERE resubscribe = 1;
