-- event_raw: every accepted EventSub delivery (persist, then ACK).

-- name: insert_raw_many
-- A whole batch of webhook deliveries in one statement: :rows is a JSON array of
-- [message_id, message_type, subscription_type, broadcaster_id, payload, received_at].
-- One statement is one step for the writer thread, instead of one GIL round trip per row (json_each
-- is SQLite's; that step is the reason, and another engine would use its own array parameter). Rows
-- whose message_id is stored already are skipped. AUTOINCREMENT gives every new row a larger id than
-- any row before it, which is how ids_of_message_ids tells the new ones apart when some were skipped.
INSERT INTO event_raw (message_id, message_type, subscription_type, broadcaster_id, payload, received_at)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, CAST(value ->> 4 AS BLOB), value ->> 5
FROM json_each(:rows) WHERE true  -- "WHERE true": SQLite's parser needs it before ON CONFLICT here
ON CONFLICT (message_id) DO NOTHING;

-- name: insert_raw
INSERT INTO event_raw (message_id, message_type, subscription_type, broadcaster_id, payload, received_at)
VALUES (:message_id, :message_type, :subscription_type, :broadcaster_id, :payload, :received_at)
ON CONFLICT (message_id) DO NOTHING;

-- name: ids_of_message_ids
-- Which of a batch's message ids are stored, and under which ids (json_each: see insert_raw_many).
SELECT message_id, id FROM event_raw WHERE message_id IN (SELECT value FROM json_each(:keys));

-- name: pending_raw
SELECT id, message_id, message_type, subscription_type, broadcaster_id, payload, received_at
FROM event_raw WHERE processed_at IS NULL AND id > :after ORDER BY id LIMIT :limit;

-- name: mark_processed
UPDATE event_raw SET processed_at = :now, outcome = :outcome WHERE id = :id AND processed_at IS NULL;

-- name: count_pending
SELECT count(*) FROM event_raw WHERE processed_at IS NULL;
