{{ config(materialized='table') }}
SELECT
    user_id,
    currency,
    coalesce(sum(amount_due) FILTER (WHERE kind = 'invoice' AND status = 'AUTHORISED'), 0) AS receivables_outstanding,
    coalesce(sum(amount_due) FILTER (WHERE kind = 'invoice' AND overdue), 0) AS receivables_overdue,
    count(*) FILTER (WHERE kind = 'invoice' AND overdue) AS overdue_invoices,
    coalesce(sum(amount_due) FILTER (WHERE kind = 'bill' AND status = 'AUTHORISED'), 0) AS bills_due,
    coalesce(sum(amount_due) FILTER (WHERE kind = 'bill' AND overdue), 0) AS bills_overdue,
    coalesce(sum(amount_due) FILTER (WHERE kind = 'invoice' AND status = 'AUTHORISED' AND NOT overdue
                                     AND due_on <= {{ today() }} + 30), 0) AS cash_expected_30_days,
    count(*) FILTER (WHERE kind = 'invoice' AND status = 'DRAFT') AS draft_invoices
FROM {{ ref('invoices') }}
WHERE currency IS NOT NULL
GROUP BY user_id, currency
