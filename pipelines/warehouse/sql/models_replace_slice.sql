-- The run's users' rows only: other users' rows are untouched.
DELETE FROM {{ relation }} WHERE user_id IN (SELECT user_id FROM run_users);
INSERT INTO {{ relation }} SELECT * FROM ({{ select }}) AS model;
