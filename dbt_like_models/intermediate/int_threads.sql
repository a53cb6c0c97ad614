{{ config(materialized='table') }}
WITH ordered AS (
    SELECT
        m.*,
        row_number() OVER (PARTITION BY user_id, thread_id ORDER BY sent_at DESC, message_id DESC) AS newest,
        row_number() OVER (PARTITION BY user_id, thread_id ORDER BY sent_at, message_id) AS oldest,
        row_number() OVER (PARTITION BY user_id, thread_id, direction ORDER BY sent_at DESC, message_id DESC)
            AS newest_this_way
    FROM {{ ref('stg_gmail_messages') }} AS m
)
SELECT
    user_id,
    thread_id,
    max(CASE WHEN oldest = 1 THEN subject END) AS subject,
    max(CASE WHEN newest = 1 THEN direction END) AS last_direction,
    max(CASE WHEN newest = 1 THEN category END) AS category,
    max(CASE WHEN newest = 1 THEN snippet END) AS last_snippet,
    coalesce(max(CASE WHEN direction = 'inbound' AND newest_this_way = 1 THEN counterpart_email END),
             max(CASE WHEN direction = 'outbound' AND newest_this_way = 1 THEN counterpart_email END))
        AS counterpart_email,
    coalesce(max(CASE WHEN direction = 'inbound' AND newest_this_way = 1 THEN counterpart END),
             max(CASE WHEN direction = 'outbound' AND newest_this_way = 1 THEN counterpart END)) AS counterpart,
    min(sent_at) AS first_message_at,
    max(sent_at) AS last_message_at,
    count(*) AS message_count,
    bool_or(is_unread) AS unread,
    bool_or(in_inbox) AS in_inbox
FROM ordered
GROUP BY user_id, thread_id
