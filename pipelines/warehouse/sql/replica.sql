-- Writing and reading the raw replica: rows staged in bulk then swapped in, soft deletes,
-- sweeps after a complete listing, and a service's purge.

-- name: create_staged
-- A temporary table shaped like the target, for rows staged in bulk; drop_staged removes it.
CREATE TEMP TABLE staged AS SELECT * FROM raw.{{ table }} LIMIT 0;

-- name: fill_staged
-- DuckDB, a handful of rows: one multi-row INSERT costs less than scanning a pandas DataFrame.
INSERT INTO staged ({{ columns | join(', ') }}) VALUES
{% for _ in range(rows) %}{% if not loop.first %}, {% endif %}({% for _ in columns %}{% if not loop.first %}, {% endif %}?{% endfor %}){% endfor %};

-- name: copy_staged
-- Postgres: rows arrive by COPY.
COPY staged ({{ columns | join(', ') }}) FROM STDIN;

-- name: drop_staged
DROP TABLE IF EXISTS staged;

-- name: stored_hashes_by_key
-- Postgres: what we hold for the incoming rows (content hash, live or not), by primary key.
SELECT user_id, id, _hash, _deleted_at IS NULL FROM raw.{{ table }}
WHERE (user_id, id) IN (SELECT * FROM unnest(CAST(:user_ids AS TEXT[]), CAST(:ids AS TEXT[])));

-- name: stored_hashes_by_user
-- DuckDB: the same, from a scan of the users' rows, which it does faster than binding id lists.
SELECT user_id, id, _hash, _deleted_at IS NULL FROM raw.{{ table }} WHERE user_id = ANY(:user_ids);

-- name: upsert
-- Replace the staged rows (any users): delete then insert, in the caller's transaction.
DELETE FROM raw.{{ table }} AS t USING staged AS s WHERE t.user_id = s.user_id AND t.id = s.id;
INSERT INTO raw.{{ table }} ({{ columns | join(', ') }}) SELECT {{ columns | join(', ') }} FROM staged;

-- name: touch
-- Rows a complete listing saw unchanged: stamp them seen, so a later sweep keeps them.
UPDATE raw.{{ table }} SET _synced_at = :now
WHERE user_id = :user_id AND id = ANY(:ids);

-- name: tombstone
-- Mark live rows deleted where `column` is one of the given values.
UPDATE raw.{{ table }}
SET _deleted_at = :now, _synced_at = :now
WHERE user_id = :user_id AND _deleted_at IS NULL AND {{ column }} = ANY(:ids);

-- name: sweep
-- After a complete listing: live rows the listing did not touch are gone upstream.
UPDATE raw.{{ table }}
SET _deleted_at = :now, _synced_at = :now
WHERE user_id = :user_id AND _deleted_at IS NULL AND _synced_at < :before;

-- name: live_ids
SELECT id{% for column in columns %}, {{ column }}{% endfor %} FROM raw.{{ table }}
WHERE user_id = :user_id AND _deleted_at IS NULL;

-- name: purge_service
-- Everything synced from one service for one user: its raw rows and its cursors.
{% for table in tables %}
DELETE FROM raw.{{ table }} WHERE user_id = :user_id;
{% endfor %}
DELETE FROM raw.sync_state WHERE user_id = :user_id AND service = :service;
