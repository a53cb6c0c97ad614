-- What we hold for the incoming rows: content hash and whether the row is live. DuckDB scans
-- the users' rows faster than it binds id lists; Postgres uses the primary key.
SELECT user_id, id, _hash, _deleted_at IS NULL FROM raw.{{ table }}
{% if dialect == 'postgres' -%}
WHERE (user_id, id) IN (SELECT * FROM unnest(%(user_ids)s::text[], %(ids)s::text[]))
{%- else -%}
WHERE {{ in_list('user_id', 'users') }}
{%- endif %}
