-- Failing rows: values held more than once by one user.
SELECT count(*) FROM (
    SELECT user_id, {{ column }} FROM {{ relation }}
    WHERE {{ column }} IS NOT NULL{% if filtered %} AND user_id IN (SELECT user_id FROM run_users){% endif %}
    GROUP BY user_id, {{ column }} HAVING count(*) > 1
) AS duplicates
