SELECT user_id, service, stream, cursor, last_success_at, last_full_sync_at, blocked_until, last_error, updated_at
FROM raw.sync_state
WHERE {{ in_list('user_id', 'user_ids') }}
