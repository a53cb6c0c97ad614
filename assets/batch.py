"""Scheduled incremental syncs in batches: one run syncs many users, so 1,000 users with nothing
new do not pay 1,000 run processes.

The op calls the same core as the per-user assets (`Runtime.sync`, `Runtime.compile`) and
reports each user's materializations against the per-user partitions, so the asset pages in the
Dagster UI show every user's latest sync whichever job did it. Users with a run of their own in
flight (a new connection) are skipped this time, so two runs never sync one user at once.
"""

import time
from datetime import datetime, timezone

import dagster as dg

from pipelines.runtime import Runtime
from pipelines.sync import TABLES

ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
          dg.DagsterRunStatus.STARTED]


def users_with_runs_in_flight(instance: dg.DagsterInstance) -> set[str]:
    records = instance.get_run_records(dg.RunsFilter(statuses=ACTIVE, tags={"sylo/trigger": "connection"}))
    return {r.dagster_run.tags.get("sylo/user") for r in records if r.dagster_run.tags.get("sylo/user")}


@dg.op(config_schema={"user_ids": [str]}, tags={"sylo/kind": "batch"},
       retry_policy=dg.RetryPolicy(max_retries=1, delay=60, jitter=dg.Jitter.FULL),
       description="Incremental sync of a batch of users, then fresh documents for those whose data changed.")
def sync_batch(context: dg.OpExecutionContext, runtime: dg.ResourceParam[Runtime]) -> dg.Output:
    started = time.monotonic()
    busy = users_with_runs_in_flight(context.instance)
    user_ids = [u for u in context.op_config["user_ids"] if u not in busy]
    as_of = datetime.now(timezone.utc)
    results = runtime.sync(user_ids)
    failed = []
    for user_id, outcomes in sorted(results.items()):
        for outcome in outcomes:
            if outcome.status == "failed":
                failed.append(f"{user_id}/{outcome.service}")
                context.log.warning(f"{outcome.service} sync for {user_id} failed: {outcome.message}")
                continue
            for table in TABLES[outcome.service]:
                counts = outcome.counts.get(table)
                context.log_event(dg.AssetMaterialization(asset_key=table, partition=user_id, metadata={
                    **outcome.metadata(), "table_added": counts.added if counts else 0,
                    "table_updated": counts.updated if counts else 0,
                    "table_deleted": counts.deleted if counts else 0}))
    refresh = runtime.users_to_refresh(results, as_of)
    _, published = runtime.compile(refresh, as_of)
    for item in published:
        context.log_event(dg.AssetMaterialization(asset_key="context_documents", partition=item.user_id,
                                                  metadata={"files_written": len(item.written)}))
    return dg.Output(None, metadata={
        "users": len(user_ids), "skipped_in_flight": len(context.op_config["user_ids"]) - len(user_ids),
        "failed": len(failed), "failed_syncs": ", ".join(failed[:50]) or "none",
        "documents_refreshed": len(refresh), "seconds": round(time.monotonic() - started, 2)})


@dg.job(tags={"sylo/batch": "incremental"},
        description="Scheduled incremental sync of a batch of users (the schedule splits all users into batches).")
def sync_batch_job():
    sync_batch()
