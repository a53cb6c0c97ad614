SELECT stream, cursor, last_success_at, last_full_sync_at, blocked_until, last_error, updated_at
FROM raw.sync_state
WHERE user_id = {{ p('user_id') }} AND service = {{ p('service') }}
