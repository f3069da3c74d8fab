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

-- name: with_grant
-- Broadcasters whose Twitch grant we may use (the view of migration 0003).
SELECT id FROM broadcasters_with_grant ORDER BY id;
