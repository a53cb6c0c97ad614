-- What the rest of Sylo reads from the warehouse: checks on the replica, the marts and sync
-- freshness for documents, and the CLI's summary.

-- name: check_duplicates
-- Ids held more than once for one user (the primary key should make this impossible).
SELECT count(*) - count(DISTINCT id) FROM raw.{{ table }} WHERE user_id = :user_id;

-- name: newest_by
-- The newest value of a column in one user's rows, per group (or overall with group = '').
SELECT {% if group %}{{ group }}{% else %}''{% endif %} AS grp, max({{ column }})
FROM raw.{{ table }}
WHERE user_id = :user_id{% if live_only %} AND _deleted_at IS NULL{% endif %}
GROUP BY 1;

-- name: doc_mart
-- One mart's rows for the users being compiled, grouped by user in Python.
SELECT * FROM marts.{{ mart }} WHERE user_id = ANY(:user_ids) ORDER BY user_id;

-- name: doc_freshness
-- Per user and service: the oldest stream success, and any error or pause still standing.
SELECT user_id, service, min(last_success_at), max(last_error), max(blocked_until), count(*)
FROM raw.sync_state
WHERE user_id = ANY(:user_ids)
GROUP BY user_id, service;

-- name: table_versions
-- Per user and raw table: how many rows (live, and with tombstones), and when a row last changed or
-- was tombstoned. Writes touch only changed rows, so these move exactly when a user's data does.
{% for table in tables %}
SELECT user_id, {{ table | literal }} AS tbl, count(*) FILTER (WHERE _deleted_at IS NULL) AS live, count(*) AS total,
       max(_synced_at) AS changed, max(_deleted_at) AS deleted
FROM raw.{{ table }}
WHERE user_id = ANY(:user_ids)
GROUP BY user_id
{% if not loop.last %}UNION ALL{% endif %}
{% endfor %};

-- name: user_summary
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
        AND NOT t.completed AND t.due_on < CAST(:today AS DATE)) AS overdue_tasks,
    (SELECT count(*) FROM raw.xero_invoices i WHERE i.user_id = u.user_id AND i._deleted_at IS NULL
        AND i.type = 'ACCREC' AND i.status = 'AUTHORISED') AS open_invoices,
    (SELECT count(*) FROM raw.xero_invoices i WHERE i.user_id = u.user_id AND i._deleted_at IS NULL
        AND i.type = 'ACCREC' AND i.status = 'AUTHORISED' AND i.due_on < CAST(:today AS DATE)) AS overdue_invoices
FROM (SELECT :user_id AS user_id) AS u;
