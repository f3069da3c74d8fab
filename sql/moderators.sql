-- name: add
INSERT INTO channel_moderators (broadcaster_id, user_id, user_login, user_name, added_at)
VALUES (:broadcaster_id, :user_id, :user_login, :user_name, :now)
ON CONFLICT (broadcaster_id, user_id) DO UPDATE SET user_login = excluded.user_login, user_name = excluded.user_name;

-- name: remove
DELETE FROM channel_moderators WHERE broadcaster_id = :broadcaster_id AND user_id = :user_id;

-- name: of_broadcaster
SELECT user_id, user_login, user_name FROM channel_moderators WHERE broadcaster_id = :broadcaster_id
ORDER BY user_login;

-- name: is_moderator
SELECT 1 FROM channel_moderators WHERE broadcaster_id = :broadcaster_id AND user_id = :user_id;

-- name: channels_of
SELECT b.id, b.login, b.display_name FROM channel_moderators m JOIN broadcasters b ON b.id = m.broadcaster_id
WHERE m.user_id = :user_id ORDER BY b.login;
