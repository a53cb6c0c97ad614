{{ config(materialized='table') }}
SELECT
    user_id,
    id AS invoice_id,
    invoice_number,
    CASE WHEN type = 'ACCPAY' THEN 'bill' ELSE 'invoice' END AS kind,
    status,
    contact_id,
    contact_name,
    reference,
    issued_on,
    due_on,
    currency,
    total,
    amount_due,
    amount_paid,
    fully_paid_on,
    CASE WHEN type = 'ACCPAY'
         THEN 'https://go.xero.com/AccountsPayable/View.aspx?InvoiceID=' || id
         ELSE 'https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID=' || id END AS url
FROM {{ source('xero', 'invoices') }}
WHERE type IN ('ACCREC', 'ACCPAY')
