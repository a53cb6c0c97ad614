{{ config(materialized='view') }}
-- Mail providers anyone can use: a shared domain there says nothing about the company.
SELECT domain FROM (VALUES
    ('gmail.com'), ('googlemail.com'), ('outlook.com'), ('hotmail.com'), ('live.com'), ('icloud.com'),
    ('me.com'), ('yahoo.com'), ('aol.com'), ('proton.me'), ('protonmail.com'), ('fastmail.com')
) AS t(domain)
