"""Periodic incremental syncs: every user partition, split into batches that each run as one job."""

import dagster as dg

from assets.batch import sync_batch_job
from assets.partitions import users


def build_incremental_sync_schedule(batch_size: int, cron: str = "*/30 * * * *") -> dg.ScheduleDefinition:
    @dg.schedule(job=sync_batch_job, cron_schedule=cron, default_status=dg.DefaultScheduleStatus.RUNNING,
                 name="incremental_sync_schedule",
                 description=f"Every 30 minutes, an incremental sync of every user, {batch_size} users per run.")
    def incremental_sync_schedule(context: dg.ScheduleEvaluationContext):
        tick = context.scheduled_execution_time.strftime("%Y%m%dT%H%M")
        everyone = sorted(context.instance.get_dynamic_partitions(users.name))
        for index in range(0, len(everyone), batch_size):
            batch = everyone[index:index + batch_size]
            yield dg.RunRequest(run_key=f"batch:{tick}:{index // batch_size}",
                                run_config={"ops": {"sync_batch": {"config": {"user_ids": batch}}}},
                                tags={"sylo/batch": "incremental", "sylo/trigger": "schedule",
                                      "sylo/users": f"{batch[0]}..{batch[-1]} ({len(batch)})"})

    return incremental_sync_schedule
