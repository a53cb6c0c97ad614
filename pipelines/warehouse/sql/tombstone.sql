-- Mark live rows deleted where `column` is one of the given values.
UPDATE raw.{{ table }}
SET _deleted_at = {{ p('now') }}, _synced_at = {{ p('now') }}
WHERE user_id = {{ p('user_id') }} AND _deleted_at IS NULL AND {{ in_list(column, 'ids') }}
