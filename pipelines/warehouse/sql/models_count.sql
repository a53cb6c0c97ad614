SELECT count(*) FROM {{ relation }}{% if filtered %} WHERE user_id IN (SELECT user_id FROM run_users){% endif %}
