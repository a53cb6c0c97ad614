-- Failing rows: a value with no row of the same user in the model it points at.
SELECT count(*) FROM {{ relation }} AS child
WHERE child.{{ column }} IS NOT NULL
{%- if filtered %} AND child.user_id IN (SELECT user_id FROM run_users){% endif %}
  AND NOT EXISTS (SELECT 1 FROM {{ to }} AS parent
                  WHERE parent.user_id = child.user_id AND parent.{{ field }} = child.{{ column }})
