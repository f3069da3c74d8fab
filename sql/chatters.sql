-- Who was seen in a channel's chat, with the roles their badges showed (domain/chat.py).

-- name: seen
INSERT INTO chatters (broadcaster_id, user_id, user_login, roles, seen_at)
VALUES (:broadcaster_id, :user_id, :user_login, :roles, :now)
ON CONFLICT (broadcaster_id, user_id) DO UPDATE SET user_login = excluded.user_login, roles = excluded.roles,
    seen_at = excluded.seen_at;

-- name: get
SELECT user_id, user_login, roles, seen_at, last_command_at FROM chatters
WHERE broadcaster_id = :broadcaster_id AND user_id = :user_id;

-- name: commanded
UPDATE chatters SET last_command_at = :now WHERE broadcaster_id = :broadcaster_id AND user_id = :user_id;

-- name: prune
-- A chunk at a time, through the index on seen_at (like the TTL of the command log).
DELETE FROM chatters WHERE rowid IN (SELECT rowid FROM chatters WHERE seen_at < :before LIMIT 1000);
