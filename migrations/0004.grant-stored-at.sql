-- When the broadcaster's current grant was stored (a sign-in or a refresh). A revocation received before
-- it belongs to an older grant and must not flag this one (pipeline.py, _revocation).
-- depends: 0003.broadcasters-with-grant

ALTER TABLE broadcasters ADD COLUMN grant_stored_at REAL;
