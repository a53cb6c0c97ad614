-- Replace the staged rows (any users): delete then insert, in the caller's transaction.
DELETE FROM raw.{{ table }} AS t USING staged AS s WHERE t.user_id = s.user_id AND t.id = s.id;
INSERT INTO raw.{{ table }} ({{ columns | join(', ') }}) SELECT {{ columns | join(', ') }} FROM staged;
