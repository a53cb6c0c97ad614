"""Fail runs whose worker process is gone, so run retries start them again.

With Dagster's default run launcher a run's worker is a child of the daemon's code server. The
code server reports a worker that dies as a failed run, but when the code server dies with it
(the daemon's whole process group killed: `kill -9`, the OOM killer, a reboot) nobody does: the
run stays STARTED for ever, and its `sylo/user` tag limit then holds every later run of that user
in the queue. Run monitoring cannot see it either: the default launcher has no worker health
check (only the Kubernetes, Docker and ECS launchers do). This sensor runs in the daemon's code
server, on the machine the workers run on, so it can look the worker's pid up.
"""

from __future__ import annotations

import os

import dagster as dg

STARTED = [dg.DagsterRunStatus.STARTED]


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid that reported the run's start: the process executing its steps."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
    event = records[0].event_log_entry.dagster_event if records else None
    return event.pid if event else None


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Report every STARTED run whose worker is no longer alive as failed; return their ids."""
    failed = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=STARTED)):
        run = record.dagster_run
        pid = worker_pid(instance, run.run_id)
        if pid is None or is_alive(pid):
            continue
        current = instance.get_run_by_id(run.run_id)
        if current is None or current.status != dg.DagsterRunStatus.STARTED:
            continue  # it finished between the two reads: a worker reports its end before exiting
        message = (f"The run's worker (pid {pid}) is gone without reporting an end: its code server died with "
                   "it (daemon killed). Failed so that run retries start it again.")
        instance.report_engine_event(message, current)
        instance.report_run_failed(current, message)
        failed.append(run.run_id)
    return failed


def build_orphaned_runs_sensor(interval_seconds: int = 30) -> dg.SensorDefinition:
    @dg.sensor(name="orphaned_runs_sensor", minimum_interval_seconds=interval_seconds,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Fails runs whose worker died with the daemon's code server, so run retries restart them.")
    def orphaned_runs_sensor(context: dg.SensorEvaluationContext):
        if not isinstance(context.instance.run_launcher, dg.DefaultRunLauncher):
            return dg.SkipReason("this run launcher checks its workers' health itself (run monitoring)")
        failed = fail_orphaned_runs(context.instance)
        return dg.SkipReason(f"failed {len(failed)} orphaned runs: {', '.join(failed)}" if failed
                             else "every started run has a live worker")

    return orphaned_runs_sensor
