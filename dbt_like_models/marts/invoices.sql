{{ config(materialized='table') }}
SELECT
    i.user_id,
    i.invoice_id,
    i.invoice_number,
    i.kind,
    i.status,
    i.contact_id,
    i.contact_name,
    ip.project_id,
    ip.project_match,
    i.reference,
    i.issued_on,
    i.due_on,
    i.currency,
    i.total,
    i.amount_due,
    i.amount_paid,
    i.status = 'AUTHORISED' AND i.amount_due > 0 AND i.due_on < {{ today() }} AS overdue,
    CASE WHEN i.status = 'AUTHORISED' AND i.amount_due > 0 AND i.due_on < {{ today() }}
         THEN {{ today() }} - i.due_on END AS days_overdue,
    i.url
FROM {{ ref('stg_xero_invoices') }} AS i
LEFT JOIN {{ ref('int_invoice_projects') }} AS ip ON ip.user_id = i.user_id AND ip.invoice_id = i.invoice_id
