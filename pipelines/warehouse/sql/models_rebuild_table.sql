-- Everyone's rows, from scratch: a new or changed model, or a run for all users.
DROP TABLE IF EXISTS {{ relation }};
CREATE TABLE {{ relation }} AS SELECT * FROM ({{ select }}) AS model;
