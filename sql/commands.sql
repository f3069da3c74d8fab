-- name: by_idempotency_key
SELECT id, type, payload, result, reason, response FROM command_log
WHERE broadcaster_id = :broadcaster_id AND idempotency_key = :key;

-- name: insert
INSERT INTO command_log
    (broadcaster_id, ts, type, source, payload, result, reason, idempotency_key, response, actor_id, actor_name)
VALUES (:broadcaster_id, :ts, :type, :source, :payload, :result, :reason, :idempotency_key, :response, :actor_id,
    :actor_name)
RETURNING id;

-- name: recent
SELECT id, ts, type, source, payload, result, reason, actor_name FROM command_log
WHERE broadcaster_id = :broadcaster_id ORDER BY id DESC LIMIT :limit;
