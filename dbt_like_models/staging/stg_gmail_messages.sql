{{ config(materialized='table') }}
SELECT
    user_id,
    id AS message_id,
    thread_id,
    internal_date AS sent_at,
    subject,
    from_header,
    from_email,
    to_emails,
    snippet,
    is_unread,
    in_inbox,
    is_sent,
    CASE WHEN is_sent THEN 'outbound' ELSE 'inbound' END AS direction,
    lower(CASE WHEN is_sent THEN split_part(coalesce(to_emails, ''), ',', 1) ELSE from_email END) AS counterpart_email,
    CASE WHEN is_sent THEN coalesce(to_header, to_emails) ELSE from_header END AS counterpart,
    CASE
        WHEN label_ids LIKE '%"CATEGORY_PROMOTIONS"%' THEN 'promotions'
        WHEN label_ids LIKE '%"CATEGORY_SOCIAL"%' THEN 'social'
        WHEN label_ids LIKE '%"CATEGORY_FORUMS"%' THEN 'forums'
        WHEN label_ids LIKE '%"CATEGORY_UPDATES"%' THEN 'updates'
        ELSE 'personal'
    END AS category
FROM {{ source('gmail', 'messages') }}
