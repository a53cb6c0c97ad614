-- Ids held more than once for one user (the primary key should make this impossible).
SELECT count(*) - count(DISTINCT id) FROM raw.{{ table }} WHERE user_id = {{ p('user_id') }}
