"""The connections sensor: new connections become partitions and runs.

Connection events come from the app DB. Webhooks fill it (when configured); this sensor also
reconciles with Nango's own list each tick, since webhooks can be lost.
"""

import dagster as dg

from sylo.nango.reconcile import SYNC_TRIGGERS, reconcile_connections
from assets.jobs import sync_user_job
from sylo.nango.client import NangoError
from assets.partitions import users
from pipelines.pipeline import Pipeline

# A disconnection changes the documents too (their freshness says so, and the owner may have
# asked for the data to go), so it starts a run like a new connection does.
TRIGGERS = (*SYNC_TRIGGERS, "disconnected")


def build_connections_sensor(interval_seconds: int = 30) -> dg.SensorDefinition:
    @dg.sensor(job=sync_user_job, minimum_interval_seconds=interval_seconds, name="connections_sensor",
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Adds a partition and requests a sync when a user connects, reconnects or disconnects a service.")
    def connections_sensor(context: dg.SensorEvaluationContext, pipeline: dg.ResourceParam[Pipeline]):
        return evaluate(context, pipeline)

    return connections_sensor


def evaluate(context: dg.SensorEvaluationContext, pipeline: Pipeline) -> dg.SensorResult | dg.SkipReason:
    """One tick: reconcile with Nango, then a partition and a run request per user with new connections."""
    try:
        reconcile_connections(pipeline.appdb, pipeline.nango)
    except NangoError as exc:
        context.log.warning(f"could not reconcile with Nango this tick: {exc}")
    after = int(context.cursor or 0)
    events = pipeline.appdb.events_after(after)
    if not events:
        return dg.SkipReason(f"no connection events after #{after}")
    latest: dict[str, int] = {}
    for event in events:
        if event.kind in TRIGGERS:
            latest[event.user_id] = event.id
    known = set(context.instance.get_dynamic_partitions(users.name))
    new_keys = sorted(set(latest) - known)
    return dg.SensorResult(
        dynamic_partitions_requests=[users.build_add_request(new_keys)] if new_keys else [],
        run_requests=[dg.RunRequest(partition_key=user_id, run_key=f"connection-event:{event_id}",
                                    tags={"sylo/user": user_id, "sylo/trigger": "connection"})
                      for user_id, event_id in sorted(latest.items())],
        cursor=str(events[-1].id),
    )


connections_sensor = build_connections_sensor()
