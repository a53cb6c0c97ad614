{{ config(materialized='table') }}
WITH tasks AS (
    SELECT user_id, project_id,
           count(*) FILTER (WHERE NOT completed) AS open_tasks,
           count(*) FILTER (WHERE status = 'overdue') AS overdue_tasks,
           count(*) FILTER (WHERE status = 'due_soon') AS due_soon_tasks,
           count(*) FILTER (WHERE status = 'recently_completed') AS recently_completed_tasks,
           min(due_on) FILTER (WHERE NOT completed AND due_on >= {{ today() }}) AS next_due_on
    FROM {{ ref('tasks') }} GROUP BY user_id, project_id
),
money AS (
    SELECT user_id, project_id,
           sum(amount_due) FILTER (WHERE status = 'AUTHORISED') AS outstanding_amount,
           sum(amount_due) FILTER (WHERE overdue) AS overdue_amount,
           min(currency) AS currency,
           count(*) AS invoices
    FROM {{ ref('invoices') }} WHERE kind = 'invoice' AND project_id IS NOT NULL GROUP BY user_id, project_id
),
client_money AS (
    SELECT user_id, contact_id, sum(amount_due) FILTER (WHERE status = 'AUTHORISED') AS client_outstanding_amount
    FROM {{ ref('invoices') }} WHERE kind = 'invoice' GROUP BY user_id, contact_id
),
mail AS (
    SELECT m.user_id, m.project_id, max(t.last_message_at) AS last_email_at, count(*) AS threads
    FROM {{ ref('int_thread_matches') }} AS m
    JOIN {{ ref('int_threads') }} AS t ON t.user_id = m.user_id AND t.thread_id = m.thread_id
    WHERE m.project_id IS NOT NULL GROUP BY m.user_id, m.project_id
)
SELECT
    p.user_id,
    p.project_id,
    p.name,
    p.archived,
    pc.client_match,
    pc.contact_id,
    c.name AS client,
    coalesce(t.open_tasks, 0) AS open_tasks,
    coalesce(t.overdue_tasks, 0) AS overdue_tasks,
    coalesce(t.due_soon_tasks, 0) AS due_soon_tasks,
    coalesce(t.recently_completed_tasks, 0) AS recently_completed_tasks,
    t.next_due_on,
    coalesce(mo.outstanding_amount, 0) AS outstanding_amount,
    coalesce(mo.overdue_amount, 0) AS overdue_amount,
    mo.currency,
    coalesce(mo.invoices, 0) AS invoices,
    coalesce(cm.client_outstanding_amount, 0) AS client_outstanding_amount,
    ma.last_email_at,
    coalesce(ma.threads, 0) AS threads,
    p.permalink_url AS url
FROM {{ ref('stg_asana_projects') }} AS p
JOIN {{ ref('int_project_clients') }} AS pc ON pc.user_id = p.user_id AND pc.project_id = p.project_id
LEFT JOIN {{ ref('stg_xero_contacts') }} AS c ON c.user_id = pc.user_id AND c.contact_id = pc.contact_id
LEFT JOIN tasks AS t ON t.user_id = p.user_id AND t.project_id = p.project_id
LEFT JOIN money AS mo ON mo.user_id = p.user_id AND mo.project_id = p.project_id
LEFT JOIN client_money AS cm ON cm.user_id = pc.user_id AND cm.contact_id = pc.contact_id
LEFT JOIN mail AS ma ON ma.user_id = p.user_id AND ma.project_id = p.project_id
