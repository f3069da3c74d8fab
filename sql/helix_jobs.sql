-- name: enqueue
INSERT INTO helix_jobs (broadcaster_id, entry_id, reward_id, redemption_id, action, next_attempt_at,
                        created_at, updated_at)
VALUES (:broadcaster_id, :entry_id, :reward_id, :redemption_id, :action, :now, :now, :now)
ON CONFLICT (broadcaster_id, redemption_id) DO NOTHING
RETURNING id;

-- name: pending
SELECT * FROM helix_jobs WHERE state = 'pending' ORDER BY next_attempt_at, id LIMIT :limit;
