-- DuckDB, small batches: a temporary table shaped like the target, filled by one multi-row
-- INSERT. Cheaper than scanning a pandas DataFrame when there are only a few rows.
CREATE OR REPLACE TEMP TABLE staged AS SELECT * FROM raw.{{ table }} LIMIT 0;
INSERT INTO staged ({{ columns | join(', ') }}) VALUES
{% for _ in range(rows) %}{% if not loop.first %}, {% endif %}({% for _ in columns %}{% if not loop.first %}, {% endif %}?{% endfor %}){% endfor %};
