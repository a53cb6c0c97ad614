{{ config(materialized='table') }}
WITH scores AS (
    SELECT p.user_id, p.record_id AS project_id, c.record_id AS contact_id, count(*) AS shared
    FROM {{ ref('int_name_words') }} AS p
    JOIN {{ ref('int_name_words') }} AS c
      ON c.user_id = p.user_id AND c.word = p.word AND c.kind = 'client'
    WHERE p.kind = 'project'
    GROUP BY p.user_id, p.record_id, c.record_id
),
best AS (
    SELECT user_id, project_id, max(shared) AS top FROM scores GROUP BY user_id, project_id
),
winners AS (
    SELECT s.user_id, s.project_id, count(*) AS candidates, min(s.contact_id) AS contact_id
    FROM scores AS s
    JOIN best AS b ON b.user_id = s.user_id AND b.project_id = s.project_id AND s.shared = b.top
    GROUP BY s.user_id, s.project_id
)
SELECT
    p.user_id,
    p.project_id,
    CASE WHEN w.candidates IS NULL THEN 'unmatched' WHEN w.candidates > 1 THEN 'ambiguous' ELSE 'name' END
        AS client_match,
    CASE WHEN w.candidates = 1 THEN w.contact_id END AS contact_id
FROM {{ ref('stg_asana_projects') }} AS p
LEFT JOIN winners AS w ON w.user_id = p.user_id AND w.project_id = p.project_id
