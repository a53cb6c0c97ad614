"""dagster-postgres, holding a few connections per process instead of opening one per call.

dagster-postgres builds its run, event-log and schedule storages on SQLAlchemy's NullPool, so every
storage call opens a fresh Postgres connection (a backend process forked, authenticated, warmed
up) and closes it. Recording one asset materialization takes about eleven of them; a batch run
reporting 1,000 events opened 12,000 connections and spent most of its time doing so
(bench/scale.py prints "Postgres sessions opened"). This storage is dagster-postgres's own, with
each engine swapped for a small pool: at most `POOL_SIZE + MAX_OVERFLOW` connections per process,
checked before use (`pool_pre_ping`) and recycled hourly, so a restarted Postgres costs one failed
ping, not an error. The webserver still replaces its engines with its own (`optimize_for_webserver`).

deploy/dagster.yaml names it under `storage: custom:`; its config is dagster-postgres's.
"""

from __future__ import annotations

from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

POOL_SIZE = 1  # a run process makes its calls one after another
MAX_OVERFLOW = 3  # the daemon's threads and a run's event watcher may overlap
RECYCLE_SECONDS = 3600


class PooledPostgresStorage(DagsterPostgresStorage):
    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True, inst_data=None,
                 token_provider=None):
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            storage._engine.dispose()
            storage._engine = create_pg_engine(
                storage.postgres_url, token_provider, isolation_level="AUTOCOMMIT", pool_size=POOL_SIZE,
                max_overflow=MAX_OVERFLOW, pool_pre_ping=True, pool_recycle=RECYCLE_SECONDS)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> "PooledPostgresStorage":
        return cls(pg_url_from_config(config_value), config_value.get("should_autocreate_tables", True), inst_data,
                   get_token_provider_from_config(config_value))
