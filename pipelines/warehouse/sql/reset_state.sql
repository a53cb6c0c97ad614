DELETE FROM raw.sync_state WHERE user_id = {{ p('user_id') }} AND service = {{ p('service') }}
