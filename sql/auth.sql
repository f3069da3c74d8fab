-- name: overlay_key_owner
SELECT broadcaster_id FROM overlay_keys WHERE key_hash = :key_hash;

-- name: set_overlay_key
INSERT INTO overlay_keys (broadcaster_id, key_hash, nonce, created_at) VALUES (:broadcaster_id, :key_hash, :nonce, :now)
ON CONFLICT (broadcaster_id) DO UPDATE SET key_hash = excluded.key_hash, nonce = excluded.nonce,
    created_at = excluded.created_at;

-- name: overlay_key_of
SELECT key_hash, nonce, created_at FROM overlay_keys WHERE broadcaster_id = :broadcaster_id;

-- name: insert_session
INSERT INTO sessions (id_hash, broadcaster_id, csrf_token, created_at, expires_at, role, user_id, user_name)
VALUES (:id_hash, :broadcaster_id, :csrf_token, :now, :expires_at, :role, :user_id, :user_name);

-- name: get_session
SELECT broadcaster_id, csrf_token, expires_at, role, user_id, user_name FROM sessions
WHERE id_hash = :id_hash AND expires_at > :now;

-- name: delete_session
DELETE FROM sessions WHERE id_hash = :id_hash;

-- name: overlay_key_hash
SELECT key_hash FROM overlay_keys WHERE broadcaster_id = :broadcaster_id;

-- name: delete_sessions_of
DELETE FROM sessions WHERE broadcaster_id = :broadcaster_id AND role = 'broadcaster';

-- name: delete_moderator_sessions
DELETE FROM sessions WHERE broadcaster_id = :broadcaster_id AND role = 'moderator' AND user_id = :user_id;

-- name: delete_all_moderator_sessions
DELETE FROM sessions WHERE broadcaster_id = :broadcaster_id AND role = 'moderator';
