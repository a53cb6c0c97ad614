"""Periodic incremental syncs for every user partition."""

import dagster as dg

from pipelines.jobs import sync_user_job
from pipelines.partitions import users


@dg.schedule(job=sync_user_job, cron_schedule="*/30 * * * *", default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Every 30 minutes, an incremental sync for each user.")
def incremental_sync_schedule(context: dg.ScheduleEvaluationContext):
    tick = context.scheduled_execution_time.strftime("%Y%m%dT%H%M")
    for user_id in context.instance.get_dynamic_partitions(users.name):
        yield dg.RunRequest(partition_key=user_id, run_key=f"{user_id}:{tick}",
                            tags={"sylo/user": user_id, "sylo/trigger": "schedule"})
