-- Per user and raw table: how many rows (live, and with tombstones), and when a row last changed or was tombstoned. Writes
-- touch only changed rows, so these move exactly when a user's data does.
{% for table in tables %}
SELECT user_id, {{ table | literal }}, count(*) FILTER (WHERE _deleted_at IS NULL), count(*), max(_synced_at),
       max(_deleted_at)
FROM raw.{{ table }}
WHERE {{ in_list('user_id', 'user_ids') }} GROUP BY user_id
{% if not loop.last %}UNION ALL{% endif %}
{% endfor %}
