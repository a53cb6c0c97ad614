-- The sync's cursors: one row per (user, service, stream) in raw.sync_state, written in the
-- same transaction as the rows it covers.

-- name: save_states
-- Write the staged stream states (any users): update those we have, insert the rest. An upsert
-- with ON CONFLICT costs several times more in DuckDB, and nearly every save is an update.
UPDATE raw.sync_state AS t SET
    cursor = s.cursor,
    last_success_at = s.last_success_at,
    last_full_sync_at = s.last_full_sync_at,
    blocked_until = s.blocked_until,
    last_error = s.last_error,
    updated_at = s.updated_at
FROM staged AS s
WHERE t.user_id = s.user_id AND t.service = s.service AND t.stream = s.stream;
INSERT INTO raw.sync_state
    (user_id, service, stream, cursor, last_success_at, last_full_sync_at, blocked_until, last_error, updated_at)
SELECT s.user_id, s.service, s.stream, s.cursor, s.last_success_at, s.last_full_sync_at, s.blocked_until,
       s.last_error, s.updated_at
FROM staged AS s
WHERE NOT EXISTS (SELECT 1 FROM raw.sync_state AS t
                  WHERE t.user_id = s.user_id AND t.service = s.service AND t.stream = s.stream);

-- name: load_state
SELECT user_id, service, stream, cursor, last_success_at, last_full_sync_at, blocked_until, last_error, updated_at
FROM raw.sync_state
WHERE user_id = ANY(:user_ids);

-- name: reset_state
DELETE FROM raw.sync_state WHERE user_id = :user_id AND service = :service;
