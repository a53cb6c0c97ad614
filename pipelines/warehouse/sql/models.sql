-- The model runner's statements (pipelines/models). The model's own SELECT is put into
-- CREATE TABLE / CREATE VIEW / INSERT by the runner with sqlglot, not pasted in here.

-- name: prepare_models
-- Schemas for the models' folders, and a record of what each model was built from.
{% for schema in schemas %}CREATE SCHEMA IF NOT EXISTS {{ schema }};
{% endfor %}CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS meta.model_state (
    name     VARCHAR PRIMARY KEY,
    digest   VARCHAR NOT NULL,
    built_at TIMESTAMPTZ NOT NULL
);

-- name: model_builds
SELECT name, digest, built_at FROM meta.model_state;

-- name: record_model
INSERT INTO meta.model_state (name, digest, built_at) VALUES (:name, :digest, :built_at)
ON CONFLICT (name) DO UPDATE SET digest = excluded.digest, built_at = excluded.built_at;

-- name: run_users
-- The users of this run, for every filtered source() and ref() to join against.
DROP TABLE IF EXISTS run_users;
CREATE TEMP TABLE run_users AS SELECT unnest(CAST(:user_ids AS TEXT[])) AS user_id;

-- name: source_rows
-- What source() reads: live rows only, of the run's users when the run is for some users.
SELECT * FROM {{ relation }}
WHERE _deleted_at IS NULL{% if filtered %} AND user_id IN (SELECT user_id FROM run_users){% endif %};

-- name: user_rows
-- What ref() to a table model reads in a run for some users: their rows only.
SELECT * FROM {{ relation }} WHERE user_id IN (SELECT user_id FROM run_users);

-- name: drop_relation
DROP {{ kind }} IF EXISTS {{ relation }};

-- name: delete_slice
-- Before a run for some users re-inserts their rows: other users' rows are untouched.
DELETE FROM {{ relation }} WHERE user_id IN (SELECT user_id FROM run_users);

-- name: create_seed
-- A seed's table: every column text, as the CSV holds it.
CREATE TABLE {{ relation }} ({% for column in columns %}{% if not loop.first %}, {% endif %}{{ column }} VARCHAR{% endfor %});

-- name: rows_by_user
-- A table model's rows per user (of the run, or all).
SELECT user_id, count(*) FROM {{ relation }}
{% if filtered %}WHERE user_id IN (SELECT user_id FROM run_users){% endif %}
GROUP BY user_id;
