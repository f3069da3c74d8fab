-- name: replace_of_broadcaster
DELETE FROM overlay_sounds WHERE broadcaster_id = :broadcaster_id AND sha256 != :sha256;

-- name: insert
INSERT INTO overlay_sounds (sha256, broadcaster_id, content_type, data, created_at)
VALUES (:sha256, :broadcaster_id, :content_type, :data, :now)
ON CONFLICT (sha256) DO NOTHING;

-- name: get
SELECT content_type, data FROM overlay_sounds WHERE sha256 = :sha256;
