-- The users of this run, for every filtered source() and ref() to join against.
{% if dialect == 'postgres' -%}
CREATE TEMP TABLE run_users ON COMMIT DROP AS SELECT unnest(%(user_ids)s::text[]) AS user_id
{%- else -%}
CREATE OR REPLACE TEMP TABLE run_users AS SELECT unnest($user_ids) AS user_id
{%- endif %}
