-- The overlay key can be shown again: it is derived from the server's signing key and this nonce
-- (web/auth.py), and still looked up by its hash. Keys made before have none: rotate once.
ALTER TABLE overlay_keys ADD COLUMN nonce TEXT;
