-- One mart's rows for the users being compiled, grouped by user in Python.
SELECT * FROM marts.{{ mart }} WHERE {{ in_list('user_id', 'user_ids') }} ORDER BY user_id
