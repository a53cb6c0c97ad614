"""The Dagster code location: it loads, its assets materialize per user, its sensor and schedule react."""

from __future__ import annotations

from datetime import datetime

import dagster as dg
import pytest

from assets.documents import documents
from assets.models import model_assets
from assets.raw import raw_assets
from assets.definitions import build_definitions
from assets.batch import sync_batch_job
from assets.schedules import build_incremental_sync_schedule
from assets.sensors import connections_sensor
from sylo.settings import Settings




def test_definitions_load_with_every_part():
    defs = build_definitions(Settings(_env_file=None))
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"gmail_messages", "asana_projects", "asana_tasks", "xero_contacts", "xero_invoices"} <= keys
    assert {"stg_asana_tasks", "projects", "communications", "tasks", "financials", "context_documents",
            "mcp_configs"} <= keys
    # A model's dependencies are its ref()s and source()s.
    assert {k.to_user_string() for k in graph.get(dg.AssetKey("stg_asana_tasks")).parent_keys} == {"asana_tasks"}
    assert dg.AssetKey("int_project_clients") in graph.get(dg.AssetKey("projects")).parent_keys
    assert defs.resolve_job_def("sync_user").partitions_def.name == "users"
    assert defs.resolve_sensor_def("connections_sensor") and defs.resolve_schedule_def("incremental_sync_schedule")


def test_a_partition_materializes_with_metadata_and_passing_checks(sandbox, runtime):
    user = sandbox.user_ids()[0]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("users", [user])
        result = dg.materialize(raw_assets, partition_key=user, instance=instance, resources={"runtime": runtime})
    assert result.success
    materializations = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()]
    by_key = {m.asset_key.to_user_string(): m.metadata for m in materializations}
    assert set(by_key) == {"gmail_messages", "asana_projects", "asana_tasks", "xero_contacts", "xero_invoices"}
    gmail = by_key["gmail_messages"]
    assert gmail["status"].value == "ok" and gmail["added"].value > 0
    assert gmail["dagster/row_count"].value == gmail["table_added"].value
    assert gmail["cursor"].value.startswith("history:")
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 15 and all(c.passed for c in checks)  # duplicates, cursor, freshness × 5 tables


def test_a_failed_sync_fails_the_step_with_advice(sandbox, runtime):
    user = sandbox.user_ids()[0]
    sandbox.admin.post(f"/connections/{sandbox.connection(user, 'xero')}/break")
    xero = next(a for a in raw_assets if "xero_invoices" in {k.to_user_string() for k in a.keys})
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("users", [user])
        result = dg.materialize([xero], partition_key=user, instance=instance, resources={"runtime": runtime},
                                raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert "reconnect" in failure.description


def test_the_sensor_adds_partitions_and_requests_runs_once(sandbox, runtime):
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"runtime": runtime})
        result = connections_sensor(context)
        assert sorted(result.dynamic_partitions_requests[0].partition_keys) == sorted(sandbox.user_ids())
        assert sorted(r.partition_key for r in result.run_requests) == sorted(sandbox.user_ids())
        again = connections_sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor,
                                                           resources={"runtime": runtime}))
        assert isinstance(again, dg.SkipReason)
        # A new connection for a known user triggers exactly one more run.
        runtime.appdb.ensure_user("u_late")
        sandbox.admin.post("/users", json={"user_id": "u_late", "integrations": ["asana"]})
        later = connections_sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor,
                                                           resources={"runtime": runtime}))
        assert [r.partition_key for r in later.run_requests] == ["u_late"]
        assert later.dynamic_partitions_requests[0].partition_keys == ["u_late"]


def test_the_schedule_batches_users_into_runs():
    schedule = build_incremental_sync_schedule(batch_size=2)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("users", ["u_c", "u_a", "u_b"])
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=datetime(2026, 11, 25, 9, 30))
        requests = list(schedule(context))
    assert [r.run_key for r in requests] == ["batch:20261125T0930:0", "batch:20261125T0930:1"]
    assert [r.run_config["ops"]["sync_batch"]["config"]["user_ids"] for r in requests] == [["u_a", "u_b"], ["u_c"]]
    assert all(r.tags["sylo/batch"] == "incremental" for r in requests)


def test_a_batch_run_syncs_every_user_and_reports_their_partitions(sandbox, runtime):
    user_ids = sandbox.user_ids()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("users", user_ids)
        result = sync_batch_job.execute_in_process(
            run_config={"ops": {"sync_batch": {"config": {"user_ids": user_ids}}}}, instance=instance,
            resources={"runtime": runtime})
        assert result.success
        materialized = {(e.asset_key.to_user_string(), e.partition)
                        for e in (ev.event_specific_data.materialization for ev in result.get_asset_materialization_events())}
        assert {("gmail_messages", u) for u in user_ids} <= materialized
        assert {("context_documents", u) for u in user_ids} <= materialized
        latest = instance.get_latest_materialization_event(dg.AssetKey("asana_tasks"))
        assert latest is not None and latest.asset_materialization.partition in user_ids
    for user_id in user_ids:
        assert runtime.exporter.layout.context(user_id, "all", "md").exists()


def test_a_partition_runs_end_to_end_to_exported_documents(sandbox, runtime):
    user = sandbox.user_ids()[0]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("users", [user])
        result = dg.materialize([*raw_assets, *model_assets, documents], partition_key=user, instance=instance,
                                resources={"runtime": runtime})
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]
    materializations = {e.event_specific_data.materialization.asset_key.to_user_string():
                        e.event_specific_data.materialization.metadata for e in result.get_asset_materialization_events()}
    preview = materializations["context_documents"]["preview"].value
    exported = runtime.exporter.layout.context(user, "all", "md").read_text()
    assert preview.startswith("# Studio briefing") and exported.startswith(preview.rstrip("\n"))
    assert materializations["tasks"]["dagster/row_count"].value > 0
    assert runtime.exporter.layout.context(user, "financials", "json").exists()
    assert runtime.exporter.layout.mcp(user, "cursor").exists()


@pytest.mark.parametrize(("problem", "says", "retries"), [
    ("reauth", "reconnect asana in the dashboard", False), ("transient", "retried with backoff", True),
    ("data", "could not read", True)])
def test_failures_tell_the_operator_what_to_do(problem, says, retries):
    from assets.raw import failure
    from pipelines.sync.engine import Outcome

    error = failure(Outcome("u_1", "asana", status="failed", message="boom", problem=problem))
    assert isinstance(error, dg.Failure) and says in error.description and error.allow_retries is retries


def test_the_freshness_check_warns_when_a_users_data_is_old(duckdb_warehouse):
    from datetime import timedelta, timezone

    from pipelines.checks import fresh
    from pipelines.warehouse import StreamState

    never = fresh(duckdb_warehouse, "u_1", "xero_invoices", timedelta(hours=6))
    assert not never.passed and never.warn_only and "never synced" in never.detail
    synced = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
    duckdb_warehouse.save_states("u_1", [StreamState("xero.invoices", last_success_at=synced)], synced)
    assert fresh(duckdb_warehouse, "u_1", "xero_invoices", timedelta(hours=6), now=synced + timedelta(hours=5)).passed
    late = fresh(duckdb_warehouse, "u_1", "xero_invoices", timedelta(hours=6), now=synced + timedelta(hours=7))
    assert not late.passed and "7.0 h ago" in late.detail
