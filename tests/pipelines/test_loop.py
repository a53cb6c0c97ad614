"""The single-process pipeline loop: connection events sync at once, disconnections purge on request."""

from __future__ import annotations

import json

from pipelines.loop import PipelineLoop


def live_rows(runtime, user_id: str, table: str) -> int:
    return len(runtime.warehouse.live_ids(user_id, table))


def test_the_first_pass_syncs_everyone_connected_and_exports(sandbox, runtime):
    from sylo.nango.reconcile import reconcile_connections

    reconcile_connections(runtime.appdb, runtime.nango)
    loop = PipelineLoop(runtime, sync_every=3600)
    synced = loop.tick()
    assert synced == sorted(sandbox.user_ids())
    for user_id in synced:
        assert runtime.exporter.layout.context(user_id, "all", "md").exists()
    assert loop.tick() == []  # nothing new: no events, the periodic sync is not due


def test_a_purge_request_deletes_only_that_services_data(sandbox, runtime):
    from sylo.nango.reconcile import reconcile_connections

    reconcile_connections(runtime.appdb, runtime.nango)
    loop = PipelineLoop(runtime, sync_every=3600)
    loop.tick()
    user_id = sandbox.user_ids()[0]
    assert live_rows(runtime, user_id, "asana_tasks") > 0
    [asana] = [c for c in runtime.appdb.connections(user_id) if c.integration == "asana"]
    runtime.nango.delete_connection(asana.connection_id, "asana")
    runtime.appdb.record_connection(user_id=user_id, integration="asana", connection_id=asana.connection_id,
                                    status="disconnected", kind="disconnected", source="dashboard")
    runtime.appdb.request_purge(user_id, "asana")
    loop.tick()
    assert live_rows(runtime, user_id, "asana_tasks") == 0 and live_rows(runtime, user_id, "asana_projects") == 0
    assert runtime.warehouse.load_state(user_id, "asana") == {}
    assert live_rows(runtime, user_id, "gmail_messages") > 0
    other = sandbox.user_ids()[1]
    assert live_rows(runtime, other, "asana_tasks") > 0
    assert runtime.appdb.pending_purges() == []
    projects = json.loads(runtime.exporter.layout.context(user_id, "projects", "json").read_text())
    assert projects["projects"] is None  # the documents no longer hold the deleted Asana data, and say so
    assert projects["availability"]["status"] == "unavailable"
