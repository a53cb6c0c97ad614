"""The Dagster code location. Wiring only: every part is built elsewhere."""

import dagster as dg

from assets.batch import sync_batch_job
from assets.jobs import sync_user_job
from assets.orphans import build_orphaned_runs_sensor
from assets.schedules import build_incremental_sync_schedule
from assets.sensors import build_connections_sensor
from assets.user import user_pipeline
from pipelines.pipeline import Pipeline
from sylo.settings import Settings


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings()
    return dg.Definitions(
        assets=[user_pipeline],
        jobs=[sync_user_job, sync_batch_job],
        sensors=[build_connections_sensor(settings.sensor_interval_seconds),
                 build_orphaned_runs_sensor(settings.sensor_interval_seconds)],
        schedules=[build_incremental_sync_schedule(settings.sync_batch_size)],
        resources={"pipeline": Pipeline(settings)},
        # Steps run in the run's own process: DuckDB takes one writer at a time, and a run is one
        # step per user anyway. Parallelism comes from concurrent runs and, within a batch, sync workers.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
