-- How the staged page differs from what we hold: new ids, and ids whose content or
-- deletion state changed.
SELECT
    count(*) FILTER (WHERE t.id IS NULL) AS added,
    count(*) FILTER (WHERE t.id IS NOT NULL
                       AND (t._hash <> s._hash OR (t._deleted_at IS NULL) <> (s._deleted_at IS NULL))) AS updated
FROM staged AS s
LEFT JOIN raw.{{ table }} AS t ON t.user_id = s.user_id AND t.id = s.id
