"""The production Dagster instance (deploy/dagster.yaml) on a real Postgres: dagster-postgres's
storage, with pooled connections instead of one connection per storage call."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from assets.dagster_storage import MAX_OVERFLOW, POOL_SIZE

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.postgres


def sessions(url: str, database: str) -> int:
    with psycopg.connect(url) as admin:
        return admin.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", [database]).fetchone()[0]


@pytest.fixture
def instance(postgres_database, tmp_path, monkeypatch):
    shutil.copy(ROOT / "deploy" / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", postgres_database.replace("postgresql://", "postgresql+psycopg2://", 1))
    made = dg.DagsterInstance.from_config(str(tmp_path))
    yield made
    made.dispose()


def test_events_are_stored_over_a_few_pooled_connections(instance, postgres_database, postgres_url):
    database = postgres_database.rsplit("/", 1)[1]
    key = dg.AssetKey("replica")
    instance.get_runs()  # the pool's first connection
    before = sessions(postgres_url, database)
    for n in range(40):
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=f"u{n}", metadata={"n": n}))
    opened = sessions(postgres_url, database) - before
    recorded = instance.fetch_materializations(key, limit=100).records
    assert {r.partition_key for r in recorded} == {f"u{n}" for n in range(40)}
    # With a connection per storage call (dagster-postgres as shipped), these 40 events opened 81.
    assert opened <= POOL_SIZE + MAX_OVERFLOW, opened


def test_a_restarted_postgres_costs_a_ping_not_an_error(instance, postgres_database, postgres_url):
    instance.get_runs()
    database = postgres_database.rsplit("/", 1)[1]
    with psycopg.connect(postgres_url, autocommit=True) as admin:  # what a Postgres restart does to pooled connections
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> "
                      "pg_backend_pid()", [database])
    assert instance.get_runs() == []
