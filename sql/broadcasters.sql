-- name: get
SELECT id, login, display_name, live, needs_reconsent, scopes, token_expires_at FROM broadcasters WHERE id = :id;

-- name: exists
SELECT 1 FROM broadcasters WHERE id = :id;

-- name: upsert
INSERT INTO broadcasters (id, login, display_name, created_at, updated_at)
VALUES (:id, :login, :display_name, :now, :now)
ON CONFLICT (id) DO UPDATE SET login = excluded.login, display_name = excluded.display_name,
    updated_at = excluded.updated_at;

-- name: set_live
UPDATE broadcasters SET live = :live, updated_at = :now WHERE id = :id;

-- name: set_needs_reconsent
UPDATE broadcasters SET needs_reconsent = :flag, updated_at = :now WHERE id = :id;

-- name: revoke_grant
-- Only a grant stored before the revocation was received: a newer sign-in is not undone by a late one.
UPDATE broadcasters SET needs_reconsent = 1, updated_at = :now
WHERE id = :id AND (grant_stored_at IS NULL OR grant_stored_at < :revoked_at);

-- name: with_any_grant
-- Broadcasters we hold a grant for, usable or waiting to sign in again: their subscriptions are kept.
SELECT id FROM broadcasters WHERE access_token IS NOT NULL ORDER BY id;

-- name: with_grant
-- Broadcasters whose Twitch grant we may use (the view of migration 0003).
SELECT id FROM broadcasters_with_grant ORDER BY id;

-- name: id_of_login
SELECT id FROM broadcasters WHERE login = :login COLLATE NOCASE LIMIT 1;

-- name: with_any_grant_and_scope
-- Broadcasters we hold a grant with this scope for, usable or waiting to sign in again (scopes are
-- stored space-separated).
SELECT id FROM broadcasters WHERE access_token IS NOT NULL
AND ' ' || coalesce(scopes, '') || ' ' LIKE '% ' || :scope || ' %' ORDER BY id;
