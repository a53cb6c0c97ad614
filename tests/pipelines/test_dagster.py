"""The Dagster code location: it loads, its assets materialize per user, its sensor and schedule react."""

from __future__ import annotations

from datetime import datetime

import dagster as dg
import pytest

from assets.batch import sync_batch_job
from assets.definitions import build_definitions
from assets.schedules import build_incremental_sync_schedule
from assets.sensors import connections_sensor
from assets.user import user_pipeline
from sylo.settings import Settings

RAW = {"gmail_messages", "asana_projects", "asana_tasks", "xero_contacts", "xero_invoices"}


def materializations(result) -> dict[str, dict]:
    return {e.event_specific_data.materialization.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
            for e in result.get_asset_materialization_events()}


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
        result = dg.materialize([user_pipeline], partition_key=user, instance=instance,
                                resources={"pipeline": runtime})
    assert result.success
    by_key = materializations(result)
    assert RAW <= set(by_key)
    gmail = by_key["gmail_messages"]
    assert gmail["status"].value == "ok" and gmail["added"].value > 0
    assert gmail["dagster/row_count"].value == gmail["table_added"].value
    assert gmail["cursor"].value.startswith("history:")
    checks = [c for c in result.get_asset_check_evaluations() if c.asset_key.to_user_string() in RAW]
    assert len(checks) == 20 and all(c.passed for c in checks)  # synced, duplicates, cursor, freshness × 5 tables


def test_a_failed_sync_is_red_on_its_tables_with_advice_and_attempted_once(sandbox, runtime):
    user = sandbox.user_ids()[0]
    sandbox.admin.post(f"/connections/{sandbox.connection(user, 'xero')}/break")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("users", [user])
        result = dg.materialize([user_pipeline], partition_key=user, instance=instance,
                                resources={"pipeline": runtime}, raise_on_error=False)
        run = instance.get_run_by_id(result.run_id)
    materialized = set(materializations(result))
    assert {"gmail_messages", "asana_tasks", "context_documents"} <= materialized
    assert not {"xero_contacts", "xero_invoices"} & materialized
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed and c.check_name == "sync_succeeded"]
    assert {c.asset_key.to_user_string() for c in failed} == {"xero_contacts", "xero_invoices"}
    assert all(c.severity == dg.AssetCheckSeverity.ERROR and "reconnect Xero" in c.description for c in failed)
    assert "xero (reauth)" in run.tags["sylo/failed"]
    assert not [e for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]  # reauth: attempted once


def test_the_sensor_adds_partitions_and_requests_runs_once(sandbox, runtime):
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"pipeline": runtime})
        result = connections_sensor(context)
        assert sorted(result.dynamic_partitions_requests[0].partition_keys) == sorted(sandbox.user_ids())
        assert sorted(r.partition_key for r in result.run_requests) == sorted(sandbox.user_ids())
        again = connections_sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor,
                                                           resources={"pipeline": runtime}))
        assert isinstance(again, dg.SkipReason)
        # A new connection for a known user triggers exactly one more run.
        runtime.appdb.ensure_user("u_late")
        sandbox.admin.post("/users", json={"user_id": "u_late", "integrations": ["asana"]})
        later = connections_sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor,
                                                           resources={"pipeline": runtime}))
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
            resources={"pipeline": runtime})
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
        result = dg.materialize([user_pipeline], partition_key=user, instance=instance,
                                resources={"pipeline": runtime})
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]
    by_key = materializations(result)
    preview = by_key["context_documents"]["preview"].value
    exported = runtime.exporter.layout.context(user, "all", "md").read_text()
    assert preview.startswith("# Studio briefing") and exported.startswith(preview.rstrip("\n"))
    assert by_key["tasks"]["dagster/row_count"].value > 0
    assert runtime.exporter.layout.context(user, "financials", "json").exists()
    assert runtime.exporter.layout.mcp(user, "cursor").exists()


@pytest.mark.parametrize(("problem", "says"), [
    ("reauth", "must reconnect Asana"), ("transient", "next scheduled sync tries again"), ("data", "could not read")])
def test_failures_tell_the_operator_what_to_do(problem, says):
    from pipelines.report import Problem, next_step

    assert says in next_step(Problem(problem), "asana")


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


def test_a_batch_with_a_broken_user_fails_visibly_and_reports_the_others(sandbox, runtime):
    """Issue 15: the scheduled path shows a failed user as failed, and nothing not connected as materialized."""
    broken, healthy = sandbox.user_ids()
    sandbox.admin.post(f"/connections/{sandbox.connection(broken, 'xero')}/break")
    runtime.appdb.ensure_user("u_mail_only")
    sandbox.admin.post("/users", json={"user_id": "u_mail_only", "integrations": ["google-mail"]})
    everyone = [broken, healthy, "u_mail_only"]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("users", everyone)
        result = sync_batch_job.execute_in_process(
            run_config={"ops": {"sync_batch": {"config": {"user_ids": everyone}}}}, instance=instance,
            resources={"pipeline": runtime}, raise_on_error=False)
        run = instance.get_run_by_id(result.run_id)
        xero_check = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("xero_invoices"), "sync_succeeded"), limit=10)
        records = instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION,
                                               limit=1000).records
    assert not result.success and run.status == dg.DagsterRunStatus.FAILURE
    assert f"{broken}/xero (reauth)" in run.tags["sylo/failed"]
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert broken in failure.description and "reconnect Xero" in failure.description
    materialized = {(r.asset_materialization.asset_key.to_user_string(), r.asset_materialization.partition)
                    for r in (record.event_log_entry for record in records)}
    assert {(t, healthy) for t in RAW} <= materialized
    assert ("gmail_messages", broken) in materialized and ("xero_invoices", broken) not in materialized
    assert ("gmail_messages", "u_mail_only") in materialized
    assert not {t for t, u in materialized if u == "u_mail_only"} & (RAW - {"gmail_messages"})
    assert {("context_documents", u) for u in everyone} <= materialized
    assert {("projects", u) for u in everyone} <= materialized  # models are reported by batches too
    by_partition = {(r.partition, r.status.value) for r in xero_check}
    assert (broken, "FAILED") in by_partition and (healthy, "SUCCEEDED") in by_partition
    assert not [e for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]


def test_a_quiet_batch_reports_only_what_changed(sandbox, runtime):
    """Nothing new for a user: nothing to record (the event log would otherwise grow by ~25 rows a user a pass)."""
    user_ids = sandbox.user_ids()
    config = {"ops": {"sync_batch": {"config": {"user_ids": user_ids}}}}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("users", user_ids)
        assert sync_batch_job.execute_in_process(run_config=config, instance=instance,
                                                 resources={"pipeline": runtime}).success
        quiet = sync_batch_job.execute_in_process(run_config=config, instance=instance,
                                                  resources={"pipeline": runtime})
        assert quiet.success and not quiet.get_asset_materialization_events()
        assert not quiet.get_asset_check_evaluations()
        sandbox.admin.post("/changes", json={"count": 2, "users": [user_ids[0]],
                                             "weights": {"asana.complete_task": 1}})
        changed = sync_batch_job.execute_in_process(run_config=config, instance=instance,
                                                    resources={"pipeline": runtime})
    reported = {(e.event_specific_data.materialization.asset_key.to_user_string(),
                 e.event_specific_data.materialization.partition) for e in changed.get_asset_materialization_events()}
    assert {("asana_tasks", user_ids[0]), ("context_documents", user_ids[0])} <= reported
    assert {partition for _, partition in reported} == {user_ids[0]}
