-- Each channel's moderators as Twitch lists them (Get Moderators), kept current by the
-- channel.moderator.add / .remove events.
CREATE TABLE channel_moderators (
    broadcaster_id TEXT NOT NULL REFERENCES broadcasters(id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL,
    user_login     TEXT NOT NULL,
    user_name      TEXT NOT NULL,
    added_at       REAL NOT NULL,
    PRIMARY KEY (broadcaster_id, user_id)
);
