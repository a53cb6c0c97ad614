SELECT id{% for column in columns %}, {{ column }}{% endfor %} FROM raw.{{ table }}
WHERE user_id = {{ p('user_id') }} AND _deleted_at IS NULL
