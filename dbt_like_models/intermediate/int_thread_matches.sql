{{ config(materialized='table') }}
WITH by_email AS (
    SELECT t.user_id, t.thread_id, min(c.contact_id) AS contact_id
    FROM {{ ref('int_threads') }} AS t
    JOIN {{ ref('stg_xero_contacts') }} AS c ON c.user_id = t.user_id AND c.email = t.counterpart_email
    WHERE c.is_customer
    GROUP BY t.user_id, t.thread_id
),
by_domain AS (
    SELECT t.user_id, t.thread_id, min(c.contact_id) AS contact_id, count(DISTINCT c.contact_id) AS candidates
    FROM {{ ref('int_threads') }} AS t
    JOIN {{ ref('stg_xero_contacts') }} AS c
      ON c.user_id = t.user_id AND c.company_domain = split_part(t.counterpart_email, '@', 2)
    WHERE c.is_customer
    GROUP BY t.user_id, t.thread_id
),
clients AS (
    SELECT t.user_id, t.thread_id,
           coalesce(e.contact_id, CASE WHEN d.candidates = 1 THEN d.contact_id END) AS contact_id,
           CASE WHEN e.contact_id IS NOT NULL THEN 'email' WHEN d.candidates = 1 THEN 'domain' ELSE 'unmatched' END
               AS client_match
    FROM {{ ref('int_threads') }} AS t
    LEFT JOIN by_email AS e ON e.user_id = t.user_id AND e.thread_id = t.thread_id
    LEFT JOIN by_domain AS d ON d.user_id = t.user_id AND d.thread_id = t.thread_id
),
job_sizes AS (
    SELECT user_id, project_id, contact_id, count(*) AS words
    FROM {{ ref('int_project_job_words') }} GROUP BY user_id, project_id, contact_id
),
hits AS (
    SELECT c.user_id, c.thread_id, j.project_id, count(*) AS found, max(s.words) AS words
    FROM clients AS c
    JOIN {{ ref('int_project_job_words') }} AS j ON j.user_id = c.user_id AND j.contact_id = c.contact_id
    JOIN {{ ref('int_name_words') }} AS tw
      ON tw.user_id = c.user_id AND tw.kind = 'thread' AND tw.record_id = c.thread_id AND tw.word = j.word
    JOIN job_sizes AS s ON s.user_id = j.user_id AND s.project_id = j.project_id
    GROUP BY c.user_id, c.thread_id, j.project_id
),
complete AS (
    SELECT user_id, thread_id, project_id, found FROM hits WHERE found = words
),
best AS (
    SELECT user_id, thread_id, max(found) AS top FROM complete GROUP BY user_id, thread_id
),
winners AS (
    SELECT c.user_id, c.thread_id, count(*) AS candidates, min(c.project_id) AS project_id
    FROM complete AS c JOIN best AS b ON b.user_id = c.user_id AND b.thread_id = c.thread_id AND c.found = b.top
    GROUP BY c.user_id, c.thread_id
)
SELECT c.user_id, c.thread_id, c.contact_id, c.client_match,
       CASE WHEN w.candidates = 1 THEN w.project_id END AS project_id,
       CASE WHEN w.candidates = 1 THEN 'name' WHEN w.candidates > 1 THEN 'ambiguous' ELSE 'none' END AS project_match
FROM clients AS c
LEFT JOIN winners AS w ON w.user_id = c.user_id AND w.thread_id = c.thread_id
