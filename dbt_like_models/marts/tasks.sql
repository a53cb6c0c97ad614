{{ config(materialized='table') }}
SELECT
    t.user_id,
    t.task_id,
    t.name,
    t.project_id,
    p.name AS project_name,
    t.assignee_id,
    t.assignee_name,
    t.section_name,
    t.due_on,
    t.completed,
    t.completed_at,
    CASE
        WHEN t.completed AND t.completed_at >= {{ as_of() }} - INTERVAL '7 days' THEN 'recently_completed'
        WHEN t.completed THEN 'done'
        WHEN t.due_on < {{ today() }} THEN 'overdue'
        WHEN t.due_on <= {{ today() }} + 7 THEN 'due_soon'
        ELSE 'open'
    END AS status,
    CASE WHEN NOT t.completed AND t.due_on < {{ today() }} THEN {{ today() }} - t.due_on END AS days_overdue,
    t.permalink_url AS url
FROM {{ ref('stg_asana_tasks') }} AS t
LEFT JOIN {{ ref('stg_asana_projects') }} AS p ON p.user_id = t.user_id AND p.project_id = t.project_id
