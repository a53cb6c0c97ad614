"""`Pipeline.run`, the one entry: what it rebuilds, and that an export that fell behind is caught up."""

from __future__ import annotations

import json
import shutil

import pytest

from pipelines.report import Problem, SyncStatus
from sylo.nango.reconcile import reconcile_connections


def test_a_first_run_syncs_rebuilds_and_reports_every_user(sandbox, runtime):
    users = sandbox.user_ids()
    report = runtime.run(users)
    assert sorted(report.users) == sorted(users) and not report.failures
    for user in report.users.values():
        assert {s.status for s in user.services.values()} == {SyncStatus.SYNCED}
        assert user.rebuilt and user.published.written and user.models
        assert user.rows["gmail_messages"] == len(runtime.warehouse.live_ids(user.user_id, "gmail_messages"))
    manifest = runtime.exporter.manifest(users[0])
    assert manifest["inputs"], "the manifest records what the export was built from"


def test_nothing_new_rebuilds_nothing(sandbox, runtime):
    users = sandbox.user_ids()
    runtime.run(users)
    again = runtime.run(users)
    assert again.rebuilt == [] and again.written == []
    sandbox.admin.post("/changes", json={"count": 3, "users": [users[0]], "weights": {"asana.complete_task": 1}})
    changed = runtime.run(users)
    assert changed.rebuilt == [users[0]] and changed.written == [users[0]]


def test_an_export_that_failed_is_redone_by_the_next_run(sandbox, runtime):
    """Issue 14.10: the next run compares what was exported with what should be, not with what it synced."""
    users = sandbox.user_ids()
    runtime.run(users)
    sandbox.admin.post("/changes", json={"count": 3, "users": [users[0]], "weights": {"asana.complete_task": 1}})
    context = runtime.exporter.layout.user_dir(users[0]) / "context"
    before = (context / "tasks.json").read_bytes()
    shutil.rmtree(context)
    context.write_text("not a folder")  # every write under it fails, even as root (read-only would not)
    with pytest.raises(OSError):
        runtime.run(users)
    context.unlink()
    shutil.copytree(runtime.exporter.layout.user_dir(users[1]) / "context", context)  # stale files again
    caught_up = runtime.run(users)  # nothing new to sync: the data changed a run ago
    assert caught_up.rebuilt == [users[0]]
    tasks = json.loads((context / "tasks.json").read_text())
    assert tasks["user_id"] == users[0] and (context / "tasks.json").read_bytes() != before


def test_a_broken_connection_is_reported_with_what_to_do_and_the_rest_still_syncs(sandbox, runtime):
    broken, healthy = sandbox.user_ids()
    sandbox.admin.post(f"/connections/{sandbox.connection(broken, 'xero')}/break")
    reconcile_connections(runtime.appdb, runtime.nango)  # as the sensor or the loop would
    report = runtime.run([broken, healthy])
    [(user_id, failed)] = report.failures
    assert (user_id, failed.service, failed.problem) == (broken, "xero", Problem.REAUTH)
    assert "reconnect Xero" in failed.next_step
    assert report.users[broken].services["gmail"].status is SyncStatus.SYNCED
    assert report.users[broken].rebuilt, "the documents say Xero is failing"
    xero = json.loads(runtime.exporter.layout.context(broken, "financials", "json").read_text())
    assert [f for f in xero["freshness"] if f["service"] == "xero"][0]["state"] == "needs_reconnect"


def test_a_service_that_is_not_connected_is_reported_as_such(sandbox, runtime):
    runtime.appdb.ensure_user("u_mail_only")
    sandbox.admin.post("/users", json={"user_id": "u_mail_only", "integrations": ["google-mail"]})
    report = runtime.run(["u_mail_only"])
    statuses = {name: s.status for name, s in report.users["u_mail_only"].services.items()}
    assert statuses == {"gmail": SyncStatus.SYNCED, "asana": SyncStatus.NOT_CONNECTED,
                        "xero": SyncStatus.NOT_CONNECTED}
    assert not report.failures
