-- The generic tests a model's YAML can declare on a column, as in dbt. Each returns failing
-- rows per user (tests run per user: `unique` means unique within one user's rows), for the
-- run's users or, after a full rebuild, for everyone.

-- name: test_unique
-- Failing rows: values held more than once by one user (one per duplicated value).
SELECT user_id, count(*) FROM (
    SELECT user_id, {{ column }} FROM {{ relation }}
    WHERE {{ column }} IS NOT NULL{% if filtered %} AND user_id IN (SELECT user_id FROM run_users){% endif %}
    GROUP BY user_id, {{ column }} HAVING count(*) > 1
) AS duplicates
GROUP BY user_id;

-- name: test_not_null
SELECT user_id, count(*) FROM {{ relation }}
WHERE {{ column }} IS NULL{% if filtered %} AND user_id IN (SELECT user_id FROM run_users){% endif %}
GROUP BY user_id;

-- name: test_accepted_values
SELECT user_id, count(*) FROM {{ relation }}
WHERE {{ column }} IS NOT NULL AND CAST({{ column }} AS VARCHAR) NOT IN ({{ values | map('literal') | join(', ') }})
{%- if filtered %} AND user_id IN (SELECT user_id FROM run_users){% endif %}
GROUP BY user_id;

-- name: test_relationships
-- Failing rows: a value with no row of the same user in the model it points at.
SELECT child.user_id, count(*) FROM {{ relation }} AS child
WHERE child.{{ column }} IS NOT NULL
{%- if filtered %} AND child.user_id IN (SELECT user_id FROM run_users){% endif %}
  AND NOT EXISTS (SELECT 1 FROM {{ to }} AS parent
                  WHERE parent.user_id = child.user_id AND parent.{{ field }} = child.{{ column }})
GROUP BY child.user_id;
