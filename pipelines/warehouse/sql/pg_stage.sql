-- Postgres only: a private staging table shaped like the target, gone at commit.
CREATE TEMP TABLE staged (LIKE raw.{{ table }}) ON COMMIT DROP
