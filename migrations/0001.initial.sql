-- twi-overlay initial schema (docs/architecture.md, "Data"). Roll forward only: later changes go in new files.
-- depends:

CREATE TABLE broadcasters (
    id               TEXT PRIMARY KEY,              -- Twitch user id
    login            TEXT NOT NULL,
    display_name     TEXT NOT NULL,
    live             INTEGER NOT NULL DEFAULT 0,
    needs_reconsent  INTEGER NOT NULL DEFAULT 0,
    access_token     TEXT,
    refresh_token    TEXT,
    token_expires_at REAL,
    scopes           TEXT NOT NULL DEFAULT '',
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL
);

CREATE TABLE settings (
    broadcaster_id TEXT PRIMARY KEY REFERENCES broadcasters(id) ON DELETE CASCADE,
    version        INTEGER NOT NULL,
    doc            TEXT NOT NULL,                   -- JSON, the settings document without "version"
    updated_at     REAL NOT NULL
);

CREATE TABLE rewards (
    broadcaster_id TEXT NOT NULL REFERENCES broadcasters(id) ON DELETE CASCADE,
    id             TEXT NOT NULL,                   -- Twitch reward id
    title          TEXT NOT NULL,
    cost           INTEGER NOT NULL DEFAULT 0,
    is_enabled     INTEGER NOT NULL DEFAULT 1,
    is_paused      INTEGER NOT NULL DEFAULT 0,
    managed        INTEGER,                         -- NULL until known; 1 = created by our client id
    removed        INTEGER NOT NULL DEFAULT 0,
    updated_at     REAL NOT NULL,
    PRIMARY KEY (broadcaster_id, id)
);

CREATE TABLE queue_entries (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    broadcaster_id TEXT NOT NULL REFERENCES broadcasters(id) ON DELETE CASCADE,
    position       INTEGER,                         -- dense 1-based among active entries; NULL once ended
    status         TEXT NOT NULL CHECK (status IN ('waiting', 'picked', 'completed', 'canceled')),
    user_id        TEXT,
    user_login     TEXT,
    user_name      TEXT NOT NULL,
    user_input     TEXT NOT NULL DEFAULT '',
    reward_id      TEXT,
    redemption_id  TEXT,
    source         TEXT NOT NULL,                   -- twitch | admin
    enqueued_at    TEXT NOT NULL,
    ended_at       TEXT,
    helix_status   TEXT                             -- NULL (nothing to tell Twitch) | pending | fulfilled | refunded | failed: <reason>
);
CREATE UNIQUE INDEX queue_entries_redemption ON queue_entries (broadcaster_id, redemption_id)
    WHERE redemption_id IS NOT NULL;
CREATE INDEX queue_entries_active ON queue_entries (broadcaster_id, position) WHERE position IS NOT NULL;

CREATE TABLE counters (
    broadcaster_id TEXT NOT NULL REFERENCES broadcasters(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    value          INTEGER NOT NULL DEFAULT 0,
    updated_at     REAL NOT NULL,
    PRIMARY KEY (broadcaster_id, name)
);

-- Every accepted EventSub delivery, stored before it is acknowledged. id gives arrival order.
CREATE TABLE event_raw (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id        TEXT NOT NULL UNIQUE,
    message_type      TEXT NOT NULL,
    subscription_type TEXT NOT NULL,
    broadcaster_id    TEXT,
    payload           BLOB NOT NULL,
    received_at       REAL NOT NULL,
    processed_at      REAL,
    outcome           TEXT
);
CREATE INDEX event_raw_received ON event_raw (received_at);
CREATE INDEX event_raw_pending ON event_raw (id) WHERE processed_at IS NULL;

CREATE TABLE command_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    broadcaster_id  TEXT NOT NULL,
    ts              REAL NOT NULL,
    type            TEXT NOT NULL,
    source          TEXT NOT NULL,
    payload         TEXT NOT NULL,
    result          TEXT NOT NULL CHECK (result IN ('ok', 'rejected', 'error')),
    reason          TEXT,
    idempotency_key TEXT,
    response        TEXT                            -- the JSON answer, replayed for a repeated Idempotency-Key
);
CREATE UNIQUE INDEX command_log_idem ON command_log (broadcaster_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX command_log_ts ON command_log (ts);

-- Durable intents for Helix redemption status updates (the outbox the Twitch worker drains).
CREATE TABLE helix_jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    broadcaster_id  TEXT NOT NULL REFERENCES broadcasters(id) ON DELETE CASCADE,
    entry_id        INTEGER REFERENCES queue_entries(id) ON DELETE SET NULL,
    reward_id       TEXT NOT NULL,
    redemption_id   TEXT NOT NULL,
    action          TEXT NOT NULL CHECK (action IN ('FULFILLED', 'CANCELED')),
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    result          TEXT,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    UNIQUE (broadcaster_id, redemption_id)
);
CREATE INDEX helix_jobs_pending ON helix_jobs (next_attempt_at) WHERE state = 'pending';

CREATE TABLE eventsub_subscriptions (
    id             TEXT PRIMARY KEY,                -- Twitch subscription id
    broadcaster_id TEXT,
    type           TEXT NOT NULL,
    version        TEXT NOT NULL,
    status         TEXT NOT NULL,
    resubscribe    INTEGER NOT NULL DEFAULT 0,      -- 1 = revoked for a reason that calls for re-creation
    created_at     REAL NOT NULL,
    updated_at     REAL NOT NULL
);

CREATE TABLE overlay_keys (
    broadcaster_id TEXT PRIMARY KEY REFERENCES broadcasters(id) ON DELETE CASCADE,
    key_hash       TEXT NOT NULL UNIQUE,            -- sha256 hex of the key; the key itself is never stored
    created_at     REAL NOT NULL
);

CREATE TABLE sessions (
    id_hash        TEXT PRIMARY KEY,                -- sha256 hex of the cookie value
    broadcaster_id TEXT NOT NULL REFERENCES broadcasters(id) ON DELETE CASCADE,
    csrf_token     TEXT NOT NULL,
    created_at     REAL NOT NULL,
    expires_at     REAL NOT NULL
);
