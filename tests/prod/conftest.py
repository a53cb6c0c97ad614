"""A production deployment of its own for these tests: deploy/prod.py with a temporary home,
throwaway databases and free ports, so a developer's `make prod-up` is never touched.

The processes are the real ones (`sylo sandbox`, `dagster-daemon run`, `sylo serve`), the Dagster
instance is dagster-postgres; only the intervals are shorter, so the tests take minutes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml

from deploy import prod
from tests import services
from tests.prod.deployment import Production, free_port

ROOT = Path(__file__).resolve().parents[2]


def instance_config(path: Path) -> Path:
    """deploy/dagster.yaml, with run monitoring polling every 5 s instead of 30."""
    config = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    config["run_monitoring"]["poll_interval_seconds"] = 5
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def production(tmp_path_factory) -> Iterator[Production]:
    """Sandbox (one studio, small), dagster-daemon and the API, on throwaway databases."""
    services.require("postgres", 5432)
    services.require("redis", 6379)
    home = tmp_path_factory.mktemp("prod")
    suffix = uuid.uuid4().hex[:10]
    deployment = prod.Deployment(
        home=home, databases={name: f"{db}_test_{suffix}" for name, db in prod.DATABASES.items()},
        ports={"api": free_port(), "dagster": free_port(), "sandbox": free_port()},
        processes=("sandbox", "dagster-daemon", "api"), instance_config=instance_config(home / "dagster.yaml"),
        sandbox_options=("--scale", "0.3", "--seed", "7"),
        settings={"SYLO_SENSOR_INTERVAL_SECONDS": "3", "SYLO_API_WORKERS": "1", "SYLO_REDIS_URL": services.REDIS_URL})
    production = None
    try:
        env = prod.up(deployment, sandbox_users=1)
        with pytest.MonkeyPatch.context() as patch:  # the instance config reads DAGSTER_PG_URL from the environment
            patch.setenv("DAGSTER_PG_URL", env["DAGSTER_PG_URL"])
            production = Production(deployment, env, dg.DagsterInstance.from_config(env["DAGSTER_HOME"]))
            yield production
    finally:
        if production is not None:
            production.close()
        else:
            prod.down(deployment)
        with psycopg.connect(f"{services.POSTGRES_URL.rsplit('/', 1)[0]}/postgres", autocommit=True) as admin:
            for db in deployment.databases.values():
                admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
