-- Active entries have a dense 1-based position; completed/canceled ones keep their row (history)
-- with position NULL.

-- name: active
SELECT * FROM queue_entries WHERE broadcaster_id = :broadcaster_id AND position IS NOT NULL ORDER BY position;

-- name: get
SELECT * FROM queue_entries WHERE broadcaster_id = :broadcaster_id AND id = :id;

-- name: by_redemption
SELECT * FROM queue_entries WHERE broadcaster_id = :broadcaster_id AND redemption_id = :redemption_id;

-- name: count_active
SELECT count(*) FROM queue_entries WHERE broadcaster_id = :broadcaster_id AND position IS NOT NULL;

-- name: count_active_for_user
SELECT count(*) FROM queue_entries
WHERE broadcaster_id = :broadcaster_id AND position IS NOT NULL
  AND coalesce(user_id, 'name:' || lower(user_name)) = :user_key;

-- name: insert
INSERT INTO queue_entries (broadcaster_id, position, status, user_id, user_login, user_name, user_input,
                           reward_id, redemption_id, source, enqueued_at, priority)
VALUES (:broadcaster_id,
        (SELECT coalesce(max(position), 0) + 1 FROM queue_entries
          WHERE broadcaster_id = :broadcaster_id AND position IS NOT NULL),
        'waiting', :user_id, :user_login, :user_name, :user_input, :reward_id, :redemption_id, :source, :now,
        :priority)
RETURNING *;

-- name: priority_place
-- Where a prioritised entry goes: after whoever is playing and after the prioritised ones already
-- waiting (in join order), ahead of everyone else.
SELECT coalesce(max(position), 0) + 1 FROM queue_entries
WHERE broadcaster_id = :broadcaster_id AND position IS NOT NULL AND (status = 'picked' OR priority = 1);

-- name: make_room
UPDATE queue_entries SET position = position + 1
WHERE broadcaster_id = :broadcaster_id AND position IS NOT NULL AND position >= :position;

-- name: finish
-- An entry leaves the queue; the ones behind it close the gap.
UPDATE queue_entries SET status = :status, position = NULL, ended_at = :now, helix_status = :helix_status
WHERE broadcaster_id = :broadcaster_id AND id = :id AND position IS NOT NULL
RETURNING *;

-- name: close_gap
UPDATE queue_entries SET position = position - 1
WHERE broadcaster_id = :broadcaster_id AND position > :position;

-- name: all_waiting
SELECT * FROM queue_entries WHERE broadcaster_id = :broadcaster_id AND status = 'waiting' ORDER BY position;

-- name: mark_picked
UPDATE queue_entries SET status = 'picked' WHERE broadcaster_id = :broadcaster_id AND id = :id RETURNING *;

-- name: set_position
UPDATE queue_entries SET position = :position WHERE broadcaster_id = :broadcaster_id AND id = :id;

-- name: set_helix_status
UPDATE queue_entries SET helix_status = :helix_status WHERE id = :id RETURNING *;

-- name: history
SELECT * FROM queue_entries WHERE broadcaster_id = :broadcaster_id AND position IS NULL
ORDER BY ended_at DESC, id DESC LIMIT :limit;
