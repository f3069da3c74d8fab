-- name: all
SELECT name, value FROM counters WHERE broadcaster_id = :broadcaster_id ORDER BY name;

-- name: add
INSERT INTO counters (broadcaster_id, name, value, updated_at) VALUES (:broadcaster_id, :name, :by, :now)
ON CONFLICT (broadcaster_id, name) DO UPDATE SET value = value + excluded.value, updated_at = excluded.updated_at
RETURNING value;

-- name: set
INSERT INTO counters (broadcaster_id, name, value, updated_at) VALUES (:broadcaster_id, :name, :value, :now)
ON CONFLICT (broadcaster_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
RETURNING value;
