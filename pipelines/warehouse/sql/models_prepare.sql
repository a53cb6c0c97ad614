-- Schemas for the models' folders, and a record of what each model was built from.
{% for schema in schemas %}CREATE SCHEMA IF NOT EXISTS {{ schema }};
{% endfor %}CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS meta.model_state (
    name     VARCHAR PRIMARY KEY,
    digest   VARCHAR NOT NULL,
    built_at TIMESTAMPTZ NOT NULL
);
