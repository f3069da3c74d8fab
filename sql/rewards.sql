-- name: get
SELECT * FROM rewards WHERE broadcaster_id = :broadcaster_id AND id = :id;

-- name: all
SELECT * FROM rewards WHERE broadcaster_id = :broadcaster_id AND removed = 0 ORDER BY title, id;

-- name: upsert
INSERT INTO rewards (broadcaster_id, id, title, cost, is_enabled, is_paused, removed, updated_at)
VALUES (:broadcaster_id, :id, :title, :cost, :is_enabled, :is_paused, :removed, :now)
ON CONFLICT (broadcaster_id, id) DO UPDATE SET title = excluded.title, cost = excluded.cost,
    is_enabled = excluded.is_enabled, is_paused = excluded.is_paused, removed = excluded.removed,
    updated_at = excluded.updated_at
RETURNING *;

-- name: set_managed
UPDATE rewards SET managed = :managed, updated_at = :now WHERE broadcaster_id = :broadcaster_id AND id = :id;

-- name: set_paused
UPDATE rewards SET is_paused = :paused, updated_at = :now WHERE broadcaster_id = :broadcaster_id AND id = :id;

-- name: managed_ids
SELECT id FROM rewards WHERE broadcaster_id = :broadcaster_id AND managed = 1;

-- name: set_removed
-- Deleted on Twitch: kept (history still names it) but never paused, listed or updated again.
UPDATE rewards SET removed = 1, updated_at = :now WHERE broadcaster_id = :broadcaster_id AND id = :id;

-- name: updated_since
SELECT id FROM rewards WHERE broadcaster_id = :broadcaster_id AND updated_at >= :since;

-- name: stored_before
-- Not removed, and last written before :before (a reward created meanwhile is not in an older listing).
SELECT id FROM rewards WHERE broadcaster_id = :broadcaster_id AND removed = 0 AND updated_at < :before;
