-- A channel's chat bot and its grant (tokens never logged).

-- name: get
SELECT broadcaster_id, user_id, user_login, user_name, access_token, refresh_token, token_expires_at, scopes,
    needs_reconsent
FROM chat_bots WHERE broadcaster_id = :broadcaster_id;

-- name: store
INSERT INTO chat_bots (broadcaster_id, user_id, user_login, user_name, access_token, refresh_token,
    token_expires_at, scopes, needs_reconsent, stored_at)
VALUES (:broadcaster_id, :user_id, :user_login, :user_name, :access_token, :refresh_token, :expires_at, :scopes, 0,
    :now)
ON CONFLICT (broadcaster_id) DO UPDATE SET user_id = excluded.user_id, user_login = excluded.user_login,
    user_name = excluded.user_name, access_token = excluded.access_token, refresh_token = excluded.refresh_token,
    token_expires_at = excluded.token_expires_at, scopes = excluded.scopes, needs_reconsent = 0,
    stored_at = excluded.stored_at;

-- name: set_tokens
UPDATE chat_bots SET access_token = :access_token, refresh_token = :refresh_token, token_expires_at = :expires_at,
    needs_reconsent = 0
WHERE broadcaster_id = :broadcaster_id;

-- name: needs_reconsent
UPDATE chat_bots SET needs_reconsent = 1 WHERE broadcaster_id = :broadcaster_id;

-- name: remove
DELETE FROM chat_bots WHERE broadcaster_id = :broadcaster_id;

-- name: usable
SELECT broadcaster_id, access_token FROM chat_bots
WHERE access_token IS NOT NULL AND needs_reconsent = 0 ORDER BY broadcaster_id;
