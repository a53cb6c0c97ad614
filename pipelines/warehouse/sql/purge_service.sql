{#- Everything synced from one service for one user: its raw rows and its cursors. -#}
{% for table in tables %}
DELETE FROM raw.{{ table }} WHERE user_id = {{ p('user_id') }};
{% endfor %}
DELETE FROM raw.sync_state WHERE user_id = {{ p('user_id') }} AND service = {{ p('service') }};
