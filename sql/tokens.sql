-- OAuth tokens per broadcaster (never logged).

-- name: get
SELECT id, access_token, refresh_token, token_expires_at, scopes, needs_reconsent FROM broadcasters WHERE id = :id;

-- name: store
UPDATE broadcasters SET access_token = :access_token, refresh_token = :refresh_token,
    token_expires_at = :expires_at, scopes = :scopes, needs_reconsent = 0, grant_stored_at = :now,
    updated_at = :now
WHERE id = :id;

-- name: usable
-- The grants we may use (the view of migration 0003), for the hourly validation.
SELECT id, access_token FROM broadcasters_with_grant ORDER BY id;
