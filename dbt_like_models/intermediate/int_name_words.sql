{{ config(materialized='table') }}
WITH texts AS (
    SELECT user_id, 'project' AS kind, project_id AS record_id, name AS text FROM {{ ref('stg_asana_projects') }}
    UNION ALL
    SELECT user_id, 'client', contact_id, name FROM {{ ref('stg_xero_contacts') }} WHERE is_customer
    UNION ALL
    SELECT user_id, 'thread', thread_id, min(subject) FROM {{ ref('stg_gmail_messages') }} GROUP BY user_id, thread_id
    UNION ALL
    SELECT user_id, 'invoice', invoice_id, reference FROM {{ ref('stg_xero_invoices') }}
)
SELECT DISTINCT t.user_id, t.kind, t.record_id, w.word
FROM texts AS t, unnest(regexp_split_to_array(lower(coalesce(t.text, '')), '[^a-z0-9]+')) AS w(word)
WHERE length(w.word) >= 3 AND w.word NOT IN (SELECT word FROM {{ ref('generic_words') }})
