-- A session belongs to the broadcaster, or to one of the channel's moderators (their Twitch user id
-- and name: the command log shows who ran what); each command records who ran it.
ALTER TABLE sessions ADD COLUMN role TEXT NOT NULL DEFAULT 'broadcaster';  -- or 'moderator'
ALTER TABLE sessions ADD COLUMN user_id TEXT;
ALTER TABLE sessions ADD COLUMN user_name TEXT;
CREATE INDEX sessions_moderator ON sessions (broadcaster_id, user_id) WHERE role = 'moderator';
ALTER TABLE command_log ADD COLUMN actor_id TEXT;
ALTER TABLE command_log ADD COLUMN actor_name TEXT;
-- A moderator's sign-in looks up the channels they moderate here.
CREATE INDEX channel_moderators_user ON channel_moderators (user_id);
