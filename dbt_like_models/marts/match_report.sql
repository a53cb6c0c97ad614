{{ config(materialized='table') }}
SELECT p.user_id, 'project' AS kind, p.project_id AS record_id, p.name AS label,
       CASE WHEN p.client_match = 'ambiguous' THEN 'several clients match its name equally'
            ELSE 'no client name in the project name' END AS reason
FROM {{ ref('projects') }} AS p WHERE p.client_match <> 'name'
UNION ALL
SELECT c.user_id, 'client', c.contact_id, c.name, 'no Asana project names this client'
FROM {{ ref('stg_xero_contacts') }} AS c
WHERE c.is_customer
  AND NOT EXISTS (SELECT 1 FROM {{ ref('int_project_clients') }} AS pc
                  WHERE pc.user_id = c.user_id AND pc.contact_id = c.contact_id)
UNION ALL
SELECT t.user_id, 'thread', t.thread_id, t.subject,
       CASE WHEN t.project_match = 'ambiguous' THEN 'from a client; its subject fits several of their projects'
            ELSE 'from a client; its subject names none of their projects' END
FROM {{ ref('communications') }} AS t WHERE t.contact_id IS NOT NULL AND t.project_id IS NULL
UNION ALL
SELECT i.user_id, 'invoice', i.invoice_id, coalesce(i.invoice_number, i.reference),
       CASE WHEN i.project_match = 'ambiguous' THEN 'its reference fits several of the client''s projects'
            ELSE 'its reference names none of the client''s projects' END
FROM {{ ref('invoices') }} AS i WHERE i.kind = 'invoice' AND i.project_id IS NULL AND i.status <> 'DRAFT'
