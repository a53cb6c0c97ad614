INSERT INTO raw.sync_state
    (user_id, service, stream, cursor, last_success_at, last_full_sync_at, blocked_until, last_error, updated_at)
VALUES ({{ p('user_id') }}, {{ p('service') }}, {{ p('stream') }}, {{ p('cursor') }}, {{ p('last_success_at') }},
        {{ p('last_full_sync_at') }}, {{ p('blocked_until') }}, {{ p('last_error') }}, {{ p('updated_at') }})
ON CONFLICT (user_id, service, stream) DO UPDATE SET
    cursor = excluded.cursor,
    last_success_at = excluded.last_success_at,
    last_full_sync_at = excluded.last_full_sync_at,
    blocked_until = excluded.blocked_until,
    last_error = excluded.last_error,
    updated_at = excluded.updated_at
