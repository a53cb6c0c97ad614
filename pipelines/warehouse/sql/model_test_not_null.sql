SELECT count(*) FROM {{ relation }}
WHERE {{ column }} IS NULL{% if filtered %} AND user_id IN (SELECT user_id FROM run_users){% endif %}
