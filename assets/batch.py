"""Scheduled incremental syncs in batches: one run syncs many users, so 1,000 users with nothing
new do not pay 1,000 run processes.

The op runs the same `Pipeline.run` as the per-user step and reports the same facts against each
user's partition (assets/report.py), so the asset pages show every user's latest state whichever
job ran. A batch in which any user's sync failed ends failed, after reporting everything, with
the failed users in a run tag and in the failure's description. Users with a run of their own in
flight (a new connection) are skipped this time, so two runs never sync one user at once.
"""

from datetime import datetime, timezone

import dagster as dg

from assets.report import as_events, facts, failure_summary, failure_tags
from pipelines.pipeline import Pipeline

ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
          dg.DagsterRunStatus.STARTED]


def users_with_runs_in_flight(instance: dg.DagsterInstance) -> set[str]:
    records = instance.get_run_records(dg.RunsFilter(statuses=ACTIVE, tags={"sylo/trigger": "connection"}))
    return {r.dagster_run.tags.get("sylo/user") for r in records if r.dagster_run.tags.get("sylo/user")}


@dg.op(config_schema={"user_ids": [str]}, tags={"sylo/kind": "batch"}, pool="nango",
       description="Incremental sync of a batch of users, then fresh documents for those whose inputs changed.")
def sync_batch(context: dg.OpExecutionContext, pipeline: dg.ResourceParam[Pipeline]) -> dg.Output:
    busy = users_with_runs_in_flight(context.instance)
    user_ids = [u for u in context.op_config["user_ids"] if u not in busy]
    report = pipeline.run(user_ids, as_of=datetime.now(timezone.utc))
    for event in as_events(facts(report, pipeline)):
        context.log_event(event)
    if report.failures:
        context.instance.add_run_tags(context.run.run_id, failure_tags(report))
        raise dg.Failure(description=f"{len(report.failed_users)} of {len(user_ids)} users failed to sync; "
                                     f"the others are reported.\n{failure_summary(report)}",
                         metadata={"failed_users": ", ".join(report.failed_users[:50])}, allow_retries=False)
    return dg.Output(None, metadata={
        "users": len(user_ids), "skipped_in_flight": len(context.op_config["user_ids"]) - len(user_ids),
        "failed": 0, "documents_rebuilt": len(report.rebuilt), "seconds": round(report.seconds, 2)})


@dg.job(tags={"sylo/batch": "incremental"},
        description="Scheduled incremental sync of a batch of users (the schedule splits all users into batches).")
def sync_batch_job():
    sync_batch()
