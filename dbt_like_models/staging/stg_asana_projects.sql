{{ config(materialized='table') }}
SELECT
    user_id,
    id AS project_id,
    name,
    archived,
    start_on,
    due_on,
    modified_at,
    permalink_url
FROM {{ source('asana', 'projects') }}
