-- Rows a complete listing saw unchanged: stamp them seen, so a later sweep keeps them.
UPDATE raw.{{ table }} SET _synced_at = {{ p('now') }}
WHERE user_id = {{ p('user_id') }} AND {{ in_list('id', 'ids') }}
