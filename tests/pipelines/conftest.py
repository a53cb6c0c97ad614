"""Fixtures for the pipeline core: a fresh warehouse per backend, a sync runner, fast retries."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from sylo.nango.client import NangoClient
from pipelines.sync.retry import RetryPolicy
from pipelines.pipeline import Pipeline
from pipelines.sync import SyncSettings
from pipelines.sync.runner import sync_users
from pipelines.warehouse import Warehouse, open_warehouse
from sylo.settings import Settings


class RecordingSleep:
    """Stands in for time.sleep: remembers what was asked, waits only a token amount."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def fast_policy(sleeps) -> RetryPolicy:
    return RetryPolicy(max_attempts=10, sleep=sleeps)


@pytest.fixture
def duckdb_warehouse(tmp_path: Path) -> Warehouse:
    warehouse = open_warehouse(f"duckdb:///{tmp_path / 'warehouse.duckdb'}", tmp_path)
    warehouse.ensure_schema()
    yield warehouse
    warehouse.close()


@pytest.fixture
def postgres_warehouse(postgres_database: str, tmp_path: Path) -> Warehouse:
    warehouse = open_warehouse(postgres_database, tmp_path)
    warehouse.ensure_schema()
    yield warehouse
    warehouse.close()


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request) -> Warehouse:
    """Each test that takes `warehouse` runs on both backends."""
    return request.getfixturevalue(f"{request.param}_warehouse")


# Every sync reconciles Asana ids, so deletions converge after every incremental sync.
EAGER = SyncSettings(asana_reconcile_every=timedelta(0), gmail_fetch_workers=4)


def run_sync(running, warehouse: Warehouse, policy: RetryPolicy, settings: SyncSettings = EAGER,
             users: list[str] | None = None, timeout: float = 30.0):
    client = NangoClient(running.url, running.secret_key, timeout=timeout)
    try:
        return sync_users(users or running.user_ids(), client=client, warehouse=warehouse, settings=settings,
                          policy=policy, workers=2)
    finally:
        client.close()


def settings_for(running, tmp_path: Path, **extra) -> Settings:
    """Settings pointing at a running sandbox, with state under tmp_path."""
    return Settings(_env_file=None, data_dir=tmp_path, nango_url=running.url,
                    nango_secret_key=SecretStr(running.secret_key), **extra)


@pytest.fixture
def runtime(sandbox, tmp_path):
    """A Pipeline on the sandbox, with every sandbox user registered."""
    runtime = Pipeline(settings_for(sandbox, tmp_path))
    for user_id in sandbox.user_ids():
        runtime.appdb.ensure_user(user_id)
    yield runtime
    runtime.close()
