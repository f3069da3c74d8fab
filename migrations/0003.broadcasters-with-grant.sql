-- "A broadcaster whose Twitch grant we may use": connected (we hold an access token) and not waiting
-- to sign in again after a revocation or a refused refresh. Written once here; the Helix worker, the
-- EventSub reconcile, token validation and the redemption catch-up all read it.
-- depends: 0002.event-raw-lean-indexes

CREATE VIEW broadcasters_with_grant AS
SELECT id, access_token FROM broadcasters WHERE access_token IS NOT NULL AND needs_reconsent = 0;
