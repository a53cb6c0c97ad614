"""One user's whole pipeline as one step: sync, models, documents, every result reported.

The step calls `Pipeline.run` once for its partition and reports the Report (assets/report.py).
A failed service does not fail the step: its tables are not materialized, its `sync_succeeded`
check fails with the next step, and the run is tagged with the failure, while the user's other
services, models and documents are reported as they are. Nothing is retried at this level: the
HTTP client already retried each call, and the next scheduled sync (or sensor run) tries again.
"""


from datetime import datetime, timezone

import dagster as dg

from assets.partitions import users
from assets.report import as_results, facts, failure_summary, failure_tags
from assets.specs import ASSET_SPECS, CHECK_SPECS
from pipelines.pipeline import Pipeline


def run_started(context: dg.AssetExecutionContext) -> datetime:
    """One 'now' for the whole run, so every step and retry agrees on what today is."""
    stats = context.instance.get_run_stats(context.run.run_id)
    started = stats.start_time if stats and stats.start_time else None
    return datetime.fromtimestamp(started, tz=timezone.utc) if started else datetime.now(timezone.utc)


@dg.multi_asset(name="user_pipeline", specs=ASSET_SPECS, check_specs=CHECK_SPECS, partitions_def=users,
                can_subset=True, pool="nango", op_tags={"sylo/kind": "user"},
                description="One user end to end: sync Gmail, Asana and Xero through Nango, rebuild their model "
                            "slices, export their documents and MCP configs.")
def user_pipeline(context: dg.AssetExecutionContext, pipeline: dg.ResourceParam[Pipeline]):
    user_id = context.partition_key
    report = pipeline.run([user_id], as_of=run_started(context))
    if report.failures:
        context.instance.add_run_tags(context.run.run_id, failure_tags(report))
        context.log.error(f"sync failed for {user_id}:\n{failure_summary(report)}")
    yield from as_results(facts(report, pipeline))
