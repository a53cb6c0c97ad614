-- After a complete listing: live rows the listing did not touch are gone upstream.
UPDATE raw.{{ table }}
SET _deleted_at = {{ p('now') }}, _synced_at = {{ p('now') }}
WHERE user_id = {{ p('user_id') }} AND _deleted_at IS NULL AND _synced_at < {{ p('before') }}
