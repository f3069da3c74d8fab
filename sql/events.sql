-- event_raw: every accepted EventSub delivery (persist, then ACK).

-- name: existing_message_ids
SELECT message_id FROM event_raw WHERE message_id IN (SELECT value FROM json_each(:keys));

-- name: insert_raw
INSERT INTO event_raw (message_id, message_type, subscription_type, broadcaster_id, payload, received_at)
VALUES (:message_id, :message_type, :subscription_type, :broadcaster_id, :payload, :received_at)
ON CONFLICT (message_id) DO NOTHING;

-- name: pending_raw
SELECT id, message_id, message_type, subscription_type, broadcaster_id, payload, received_at
FROM event_raw WHERE processed_at IS NULL AND id > :after ORDER BY id LIMIT :limit;

-- name: mark_processed
UPDATE event_raw SET processed_at = :now, outcome = :outcome WHERE id = :id AND processed_at IS NULL;

-- name: count_pending
SELECT count(*) FROM event_raw WHERE processed_at IS NULL;
