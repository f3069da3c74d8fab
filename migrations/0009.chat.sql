-- Chat: who was seen in each channel's chat with which roles (from their badges, and when), for
-- eligibility and priority of both chat and channel-point joins and the per-viewer cooldown; and
-- each queue entry's priority group (1: placed ahead of everyone else, 0: everyone else).
CREATE TABLE chatters (
    broadcaster_id  TEXT NOT NULL REFERENCES broadcasters(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    user_login      TEXT NOT NULL,
    roles           TEXT NOT NULL DEFAULT '',   -- space-separated: subscriber vip moderator broadcaster
    seen_at         REAL NOT NULL,
    last_command_at REAL,
    PRIMARY KEY (broadcaster_id, user_id)
);
CREATE INDEX chatters_login ON chatters (broadcaster_id, user_login);
CREATE INDEX chatters_seen ON chatters (seen_at);
ALTER TABLE queue_entries ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
