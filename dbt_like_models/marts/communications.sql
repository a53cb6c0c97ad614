{{ config(materialized='table') }}
SELECT
    t.user_id,
    t.thread_id,
    t.subject,
    t.counterpart,
    t.counterpart_email,
    m.contact_id,
    c.name AS client_name,
    m.client_match,
    m.project_id,
    m.project_match,
    p.name AS project_name,
    t.message_count,
    t.first_message_at,
    t.last_message_at,
    t.last_direction,
    t.category,
    t.unread,
    t.last_direction = 'inbound' AND t.category = 'personal' AS awaiting_reply,
    'https://mail.google.com/mail/u/0/#all/' || t.thread_id AS url
FROM {{ ref('int_threads') }} AS t
JOIN {{ ref('int_thread_matches') }} AS m ON m.user_id = t.user_id AND m.thread_id = t.thread_id
LEFT JOIN {{ ref('stg_xero_contacts') }} AS c ON c.user_id = m.user_id AND c.contact_id = m.contact_id
LEFT JOIN {{ ref('stg_asana_projects') }} AS p ON p.user_id = m.user_id AND p.project_id = m.project_id
WHERE t.category IN ('personal', 'updates')
  AND (t.unread
       OR (t.last_direction = 'inbound' AND t.category = 'personal')
       OR (t.category = 'personal' AND t.last_message_at >= {{ as_of() }} - INTERVAL '30 days'))
