-- The sound an overlay plays on a new entry, when the streamer picked a file (POST /api/overlay-sound).
-- One per broadcaster (an upload replaces the previous one), addressed by the sha256 of its bytes.
CREATE TABLE overlay_sounds (
    sha256         TEXT PRIMARY KEY,
    broadcaster_id TEXT NOT NULL REFERENCES broadcasters(id) ON DELETE CASCADE,
    content_type   TEXT NOT NULL,
    data           BLOB NOT NULL,
    created_at     REAL NOT NULL
);
CREATE INDEX overlay_sounds_broadcaster ON overlay_sounds (broadcaster_id);
