{{ config(materialized='table') }}
WITH job_sizes AS (
    SELECT user_id, project_id, contact_id, count(*) AS words
    FROM {{ ref('int_project_job_words') }} GROUP BY user_id, project_id, contact_id
),
hits AS (
    SELECT i.user_id, i.invoice_id, j.project_id, count(*) AS found, max(s.words) AS words
    FROM {{ ref('stg_xero_invoices') }} AS i
    JOIN {{ ref('int_project_job_words') }} AS j ON j.user_id = i.user_id AND j.contact_id = i.contact_id
    JOIN {{ ref('int_name_words') }} AS iw
      ON iw.user_id = i.user_id AND iw.kind = 'invoice' AND iw.record_id = i.invoice_id AND iw.word = j.word
    JOIN job_sizes AS s ON s.user_id = j.user_id AND s.project_id = j.project_id
    WHERE i.kind = 'invoice'
    GROUP BY i.user_id, i.invoice_id, j.project_id
),
complete AS (SELECT user_id, invoice_id, project_id, found FROM hits WHERE found = words),
best AS (SELECT user_id, invoice_id, max(found) AS top FROM complete GROUP BY user_id, invoice_id),
winners AS (
    SELECT c.user_id, c.invoice_id, count(*) AS candidates, min(c.project_id) AS project_id
    FROM complete AS c JOIN best AS b ON b.user_id = c.user_id AND b.invoice_id = c.invoice_id AND c.found = b.top
    GROUP BY c.user_id, c.invoice_id
)
SELECT i.user_id, i.invoice_id,
       CASE WHEN w.candidates = 1 THEN w.project_id END AS project_id,
       CASE WHEN w.candidates = 1 THEN 'name' WHEN w.candidates > 1 THEN 'ambiguous' ELSE 'none' END AS project_match
FROM {{ ref('stg_xero_invoices') }} AS i
LEFT JOIN winners AS w ON w.user_id = i.user_id AND w.invoice_id = i.invoice_id
WHERE i.kind = 'invoice'
