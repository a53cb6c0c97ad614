{{ config(materialized='table') }}
SELECT
    c.user_id,
    c.id AS contact_id,
    c.name,
    lower(c.email) AS email,
    CASE WHEN c.email_domain IN (SELECT domain FROM {{ ref('public_mail_domains') }}) THEN NULL
         ELSE c.email_domain END AS company_domain,
    coalesce(c.is_customer, false) AS is_customer,
    coalesce(c.is_supplier, false) AS is_supplier
FROM {{ source('xero', 'contacts') }} AS c
