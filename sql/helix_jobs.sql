-- name: enqueue
INSERT INTO helix_jobs (broadcaster_id, entry_id, reward_id, redemption_id, action, next_attempt_at,
                        created_at, updated_at)
VALUES (:broadcaster_id, :entry_id, :reward_id, :redemption_id, :action, :now, :now, :now)
ON CONFLICT (broadcaster_id, redemption_id) DO NOTHING
RETURNING id;

-- name: pending
SELECT * FROM helix_jobs WHERE state = 'pending' ORDER BY next_attempt_at, id LIMIT :limit;

-- name: due
-- Work that may run now, skipping broadcasters without a usable grant (they must sign in again or
-- never connected Twitch): their work waits, kept.
SELECT j.* FROM helix_jobs j JOIN broadcasters_with_grant b ON b.id = j.broadcaster_id
WHERE j.state = 'pending' AND j.next_attempt_at <= :now
ORDER BY j.next_attempt_at, j.id LIMIT :limit;

-- name: finish
UPDATE helix_jobs SET state = :state, result = :result, attempts = attempts + 1, updated_at = :now
WHERE id = :id;

-- name: retry
-- A failure that retrying can fix (5xx, network): counted, so the next delay grows.
UPDATE helix_jobs SET attempts = attempts + 1, next_attempt_at = :next_attempt_at, result = :result,
    updated_at = :now
WHERE id = :id;

-- name: defer
-- Not an attempt (429: Twitch asked us to wait): only the time moves.
UPDATE helix_jobs SET next_attempt_at = :next_attempt_at, result = :result, updated_at = :now WHERE id = :id;

-- name: restart
-- The admin's "retry" on a failed update: pending again, due now, with a fresh schedule.
UPDATE helix_jobs SET state = 'pending', attempts = 0, next_attempt_at = :now, result = 'retry requested',
    updated_at = :now
WHERE broadcaster_id = :broadcaster_id AND redemption_id = :redemption_id AND state = 'failed'
RETURNING *;

-- name: failed
-- Updates that will not be tried again unless someone asks, newest first.
SELECT j.*, e.user_name FROM helix_jobs j LEFT JOIN queue_entries e ON e.id = j.entry_id
WHERE j.broadcaster_id = :broadcaster_id AND j.state = 'failed'
ORDER BY j.updated_at DESC, j.id DESC LIMIT :limit;

-- name: pending_for_reward
SELECT * FROM helix_jobs WHERE broadcaster_id = :broadcaster_id AND reward_id = :reward_id AND state = 'pending';

-- name: by_redemption
SELECT * FROM helix_jobs WHERE broadcaster_id = :broadcaster_id AND redemption_id = :redemption_id;
