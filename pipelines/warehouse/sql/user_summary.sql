-- A few numbers per user for the CLI's summary: what the replica holds, live rows only.
SELECT
    u.user_id,
    (SELECT count(*) FROM raw.gmail_messages m WHERE m.user_id = u.user_id AND m._deleted_at IS NULL) AS messages,
    (SELECT count(*) FROM raw.gmail_messages m WHERE m.user_id = u.user_id AND m._deleted_at IS NULL
        AND m.is_unread AND m.in_inbox) AS unread,
    (SELECT count(*) FROM raw.asana_projects p WHERE p.user_id = u.user_id AND p._deleted_at IS NULL
        AND NOT p.archived) AS projects,
    (SELECT count(*) FROM raw.asana_tasks t WHERE t.user_id = u.user_id AND t._deleted_at IS NULL
        AND NOT t.completed) AS open_tasks,
    (SELECT count(*) FROM raw.asana_tasks t WHERE t.user_id = u.user_id AND t._deleted_at IS NULL
        AND NOT t.completed AND t.due_on < CAST({{ p('today') }} AS DATE)) AS overdue_tasks,
    (SELECT count(*) FROM raw.xero_invoices i WHERE i.user_id = u.user_id AND i._deleted_at IS NULL
        AND i.type = 'ACCREC' AND i.status = 'AUTHORISED') AS open_invoices,
    (SELECT count(*) FROM raw.xero_invoices i WHERE i.user_id = u.user_id AND i._deleted_at IS NULL
        AND i.type = 'ACCREC' AND i.status = 'AUTHORISED' AND i.due_on < CAST({{ p('today') }} AS DATE)) AS overdue_invoices
FROM (SELECT {{ p('user_id') }} AS user_id) AS u
