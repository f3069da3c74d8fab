-- A channel's chat account when it is not the broadcaster's own: a bot that signed in with its own
-- grant (user:read:chat, user:write:chat, user:bot), stored like the broadcaster's (never logged).
CREATE TABLE chat_bots (
    broadcaster_id   TEXT PRIMARY KEY REFERENCES broadcasters(id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL,
    user_login       TEXT NOT NULL,
    user_name        TEXT NOT NULL,
    access_token     TEXT,
    refresh_token    TEXT,
    token_expires_at REAL,
    scopes           TEXT NOT NULL DEFAULT '',
    needs_reconsent  INTEGER NOT NULL DEFAULT 0,
    stored_at        REAL NOT NULL
);
