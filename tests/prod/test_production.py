"""Issue 8 on the real processes: a Nango webhook becomes a queued run and fresh documents, with
dagster-daemon running against dagster-postgres; killing the daemon or a run mid-way and starting
again loses nothing and duplicates nothing.

Each test connects new studios through the sandbox's Connect page; the sandbox signs and delivers
Nango's webhooks to the API (gunicorn), which records connection events in the app DB; the
connections sensor in dagster-daemon turns them into queued `sync_user` runs.
"""

from __future__ import annotations

import dagster as dg
import httpx
import psutil
import pytest

from assets.orphans import worker_pid
from sylo.appdb import AppDB
from tests.pipelines.convergence import assert_converged
from tests.pipelines.test_webhook_flow import INTEGRATIONS, connect_through_the_page
from tests.prod.deployment import Production, wait_until

# Each scenario here waits for real processes: a run worker takes 25-30 s from webhook to its step
# starting on a busy 2-core machine (a fresh interpreter importing Dagster and Sylo), and a crash
# costs a daemon restart and a retried run on top. Measured: 190 s for the crash test with four
# other test processes running. The suite-wide 300 s cap was below what the test's own waits allow
# (three crashes, each with its event budget), so these tests carry a budget that fits them.
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(900)]

E = dg.DagsterEventType
# Every table that holds one row per record per user, with the column naming the record.
KEYS = {"raw.gmail_messages": "id", "raw.asana_projects": "id", "raw.asana_tasks": "id", "raw.xero_contacts": "id",
        "raw.xero_invoices": "id", "marts.tasks": "task_id", "marts.invoices": "invoice_id",
        "marts.projects": "project_id", "marts.communications": "thread_id", "marts.financials": "currency"}


def events(production: Production, run_id: str, *kinds: dg.DagsterEventType) -> list[dg.DagsterEvent]:
    records = production.instance.get_records_for_run(run_id, of_type=set(kinds)).records
    return [record.event_log_entry.dagster_event for record in records]


def latest_run(production: Production, user_id: str) -> dg.DagsterRun | None:
    runs = production.runs(user_id)  # newest first: after a crash, the retry
    return runs[0] if runs else None


def succeeded(production: Production, user_id: str) -> dg.DagsterRun | None:
    run = latest_run(production, user_id)
    return run if run and run.status == dg.DagsterRunStatus.SUCCESS else None


def sync_step(production: Production, user_id: str, kind: dg.DagsterEventType) -> dg.DagsterRun | None:
    """The user's run once its pipeline step has reached `kind` (STEP_START or STEP_SUCCESS)."""
    run = latest_run(production, user_id)
    if run and any(event.step_key == "user_pipeline" for event in events(production, run.run_id, kind)):
        return run
    return None


def syncing(production: Production, user_id: str) -> dg.DagsterRun | None:
    """The user's run once its step has started writing synced rows (the step is midway)."""
    run = sync_step(production, user_id, E.STEP_START)
    rows = production.warehouse.query(f"SELECT count(*) FROM raw.gmail_messages WHERE user_id = "
                                      f"{production.warehouse.param('u')}", {"u": user_id}) if run else [(0,)]
    return run if rows[0][0] else None


def assert_loses_nothing_and_duplicates_nothing(production: Production, user_id: str) -> None:
    assert production.exports.context(user_id, "all", "md").read_text().startswith("# Studio briefing")
    for table, key in KEYS.items():
        twice = production.warehouse.query(
            f"SELECT {key}, count(*) FROM {table} WHERE user_id = {production.warehouse.param('u')} "
            f"GROUP BY {key} HAVING count(*) > 1", {"u": user_id})
        assert twice == [], f"{table} holds {user_id}'s records more than once: {twice[:3]}"
    assert_converged(production.warehouse, production.admin.get(f"/users/{user_id}/truth").json())


def test_a_webhook_becomes_a_queued_run_and_fresh_documents(production: Production):
    user = "u_prod_flow"
    connect_through_the_page(production, user)

    run = wait_until(lambda: succeeded(production, user), "the sensor's run for the new studio to succeed")
    assert (run.job_name, run.tags["sylo/user"], run.tags["dagster/sensor_name"]) == (
        "sync_user", user, "connections_sensor")
    lifecycle = [E.RUN_ENQUEUED, E.RUN_STARTING, E.RUN_START, E.RUN_SUCCESS]
    assert [e.event_type for e in events(production, run.run_id, *lifecycle)] == lifecycle, "not through the queue"

    deliveries = [d for d in production.admin.get("/webhooks", params={"flush": "true"}).json()["deliveries"]
                  if d["payload"].get("endUser", {}).get("endUserId") == user]
    assert sorted(d["payload"]["providerConfigKey"] for d in deliveries) == sorted(INTEGRATIONS)
    assert all(d["attempts"][-1]["status"] == 200 for d in deliveries), deliveries

    assert_loses_nothing_and_duplicates_nothing(production, user)
    appdb = AppDB(production.env["SYLO_APP_DB_URL"])
    try:
        token = appdb.issue_token(user)[1]
    finally:
        appdb.close()
    served = httpx.get(f"{production.env['SYLO_PUBLIC_URL']}/v1/context/all.md", timeout=30,
                       headers={"Authorization": f"Bearer {token}"})
    assert served.status_code == 200
    assert served.content == production.exports.context(user, "all", "md").read_bytes()


def test_killing_the_daemon_or_a_run_midway_loses_nothing_and_duplicates_nothing(production: Production):
    # The daemon's whole process group (daemon, its code server, the run's worker) dies during a sync step.
    group = "u_prod_group_killed"
    connect_through_the_page(production, group)
    wait_until(lambda: sync_step(production, group, E.STEP_START), "a sync step to start", every=0.2)
    production.kill_daemon(whole_group=True)

    # Only the daemon dies: the code server it started carries on with the run.
    daemon = "u_prod_daemon_killed"
    connect_through_the_page(production, daemon)
    wait_until(lambda: sync_step(production, daemon, E.STEP_START), "a sync step to start", every=0.2)
    production.kill_daemon(whole_group=False)

    # The run's worker process dies midway through its step, with some of the sync already committed.
    worker = "u_prod_worker_killed"
    connect_through_the_page(production, worker)
    run = wait_until(lambda: syncing(production, worker), "the sync to commit its first rows", every=0.2)
    process = psutil.Process(worker_pid(production.instance, run.run_id))
    assert "multiprocessing" in " ".join(process.cmdline())
    assert production.daemon_pid() in [p.pid for p in process.parents()], "the worker is not the daemon's"
    process.kill()

    for user in (group, daemon, worker):
        wait_until(lambda user=user: succeeded(production, user), f"{user}'s run to succeed after the crash",
                   seconds=240)
    for user, crashed in ((group, True), (daemon, False), (worker, True)):
        runs = production.runs(user)
        roots = [r for r in runs if "dagster/parent_run_id" not in r.tags]
        assert len(roots) == 1, f"{user}'s connection was launched {len(roots)} times"
        assert [r.status for r in runs].count(dg.DagsterRunStatus.SUCCESS) == 1
        assert roots[0].status == (dg.DagsterRunStatus.FAILURE if crashed else dg.DagsterRunStatus.SUCCESS)
        assert len(runs) == (2 if crashed else 1), [(r.run_id, r.status, r.tags.get("dagster/retry_number"))
                                                     for r in runs]
        assert_loses_nothing_and_duplicates_nothing(production, user)
    # The killed run never finished its step; the retry ran it once, to the end.
    retry = latest_run(production, worker)
    assert not events(production, run.run_id, E.STEP_SUCCESS)
    assert [e.step_key for e in events(production, retry.run_id, E.STEP_SUCCESS)] == ["user_pipeline"]
