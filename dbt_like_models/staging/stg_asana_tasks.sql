{{ config(materialized='table') }}
SELECT
    user_id,
    id AS task_id,
    project_id,
    name,
    section_name,
    assignee_id,
    assignee_name,
    completed,
    completed_at,
    due_on,
    modified_at,
    permalink_url
FROM {{ source('asana', 'tasks') }}
