-- The newest value of a column in one user's rows, per group (or overall with group = '').
SELECT {% if group %}{{ group }}{% else %}''{% endif %} AS grp, max({{ column }})
FROM raw.{{ table }}
WHERE user_id = {{ p('user_id') }}{% if live_only %} AND _deleted_at IS NULL{% endif %}
GROUP BY 1
