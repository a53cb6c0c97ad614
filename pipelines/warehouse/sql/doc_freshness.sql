-- Per user and service: the oldest stream success, and any error or pause still standing.
SELECT user_id, service, min(last_success_at), max(last_error), max(blocked_until), count(*)
FROM raw.sync_state
WHERE {{ in_list('user_id', 'user_ids') }}
GROUP BY user_id, service
