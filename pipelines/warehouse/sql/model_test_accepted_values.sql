SELECT count(*) FROM {{ relation }}
WHERE {{ column }} IS NOT NULL AND CAST({{ column }} AS VARCHAR) NOT IN ({{ values | map('literal') | join(', ') }})
{%- if filtered %} AND user_id IN (SELECT user_id FROM run_users){% endif %}
