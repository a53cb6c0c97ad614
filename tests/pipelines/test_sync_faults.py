"""Faults, crashes, expired cursors and bad data: the replica still converges, and never lies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from pipelines.warehouse import open_warehouse
from tests.pipelines.conftest import EAGER, run_sync
from tests.pipelines.convergence import assert_converged, assert_no_duplicates

FIFTH = {"gmail": 0.2, "asana": 0.2, "xero": 0.2}


def statuses(outcomes) -> dict[tuple[str, str], str]:
    return {(o.user_id, o.service): o.status for outs in outcomes.values() for o in outs}


def converge_all(running, warehouse) -> None:
    for user_id in running.user_ids():
        assert_converged(warehouse, running.sandbox.world.truth(user_id))


def test_a_fifth_of_calls_failing_still_converges(make_sandbox, warehouse, fast_policy, sleeps):
    running = make_sandbox(seed=31, users=1, faults={"rates": FIFTH, "retry_after": 2, "timeout_seconds": 1.5, "seed": 4})
    for step in range(3):
        if step:
            running.admin.post("/changes", json={"fraction": 0.05})
        outcomes = run_sync(running, warehouse, fast_policy, timeout=0.75)
        assert set(statuses(outcomes).values()) == {"ok"}, [o.message for outs in outcomes.values() for o in outs]
        converge_all(running, warehouse)
    injected = running.admin.get("/faults").json()["injected"]
    assert {"rate_limit", "rate_limit_zero", "server_error", "reset"} <= set(injected), injected
    assert sum(injected.values()) >= 20
    # Retry-After: 2 was honoured as a floor; Retry-After: 0 still waited the policy's minimum.
    assert any(wait >= 2 for wait in sleeps.waits)
    assert min(sleeps.waits) >= fast_policy.min_retry_after / 2
    assert_no_duplicates(warehouse)


def test_retries_are_reported_in_the_outcome(make_sandbox, duckdb_warehouse, fast_policy):
    running = make_sandbox(seed=32, users=1, faults={"scripted": [
        {"service": "xero", "kind": "rate_limit", "path": "/Invoices", "times": 2},
        {"service": "xero", "kind": "server_error", "path": "/Contacts", "times": 1}]})
    [outs] = run_sync(running, duckdb_warehouse, fast_policy).values()
    xero = next(o for o in outs if o.service == "xero")
    assert xero.status == "ok"
    meta = xero.metadata()
    assert (meta["retries"], meta["rate_limited"]) == (3, 2)
    assert meta["rate_limit_wait_s"] >= 2 * 1.0  # Retry-After: 1, twice


CHILD = """
import logging, sys
from datetime import timedelta
from pathlib import Path
from sylo.nango.client import NangoClient
from pipelines.sync.retry import RetryPolicy
from pipelines.sync import SyncSettings
from pipelines.sync.runner import sync_users
from pipelines.warehouse import open_warehouse
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(message)s")
url, key, path, user = sys.argv[1:5]
warehouse = open_warehouse("duckdb:///" + path, Path("."))
warehouse.ensure_schema()
sync_users([user], client=NangoClient(url, key), warehouse=warehouse, policy=RetryPolicy(),
           settings=SyncSettings(gmail_page_size=10, flush_rows=10, gmail_fetch_workers=1,
                                 asana_reconcile_every=timedelta(0)))
"""


def test_a_killed_backfill_resumes_from_its_checkpoint(make_sandbox, tmp_path, fast_policy):
    running = make_sandbox(seed=33, users=1, scale=1.5)
    user = running.user_ids()[0]
    path = tmp_path / "warehouse.duckdb"
    child = subprocess.Popen([sys.executable, "-c", CHILD, running.url, running.secret_key, str(path), user],
                             stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2],
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    committed = 0
    for line in child.stderr:
        committed += "gmail batch committed" in line
        if committed == 3:
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, "the sync finished before it could be killed"

    warehouse = open_warehouse(f"duckdb:///{path}", tmp_path)
    checkpoint = warehouse.load_state(user, "gmail")["gmail.messages"].cursor
    assert checkpoint["mode"] == "backfill" and checkpoint["page_token"], checkpoint
    held = warehouse.query("SELECT count(*) FROM raw.gmail_messages")[0][0]
    assert held >= 30  # three pages of ten survived the kill

    outcomes = run_sync(running, warehouse, fast_policy, settings=replace(EAGER, gmail_page_size=10, flush_rows=10))
    gmail = next(o for o in outcomes[user] if o.service == "gmail")
    total_pages = -(-len(running.sandbox.world.user(user).mailbox.messages) // 10)
    assert gmail.status == "ok" and gmail.pages <= total_pages - 3  # it resumed, it did not start over
    assert_converged(warehouse, running.sandbox.world.truth(user))
    assert_no_duplicates(warehouse)
    warehouse.close()


def test_expired_gmail_history_recovers_by_a_clean_full_resync(make_sandbox, warehouse, fast_policy):
    running = make_sandbox(seed=34, users=1)
    user = running.user_ids()[0]
    run_sync(running, warehouse, fast_policy)
    running.admin.post("/changes", json={"count": 6, "weights": {"gmail.delete": 1, "gmail.trash": 1,
                                                                  "gmail.client_reply": 1}})
    running.admin.post(f"/users/{user}/gmail/expire-history")
    [outs] = run_sync(running, warehouse, fast_policy).values()
    gmail = next(o for o in outs if o.service == "gmail")
    assert gmail.status == "ok"
    assert "expired" in gmail.metadata()["full_resync"]
    assert gmail.totals.deleted >= 1  # the sweep found what vanished while history was gone
    assert_converged(warehouse, running.sandbox.world.truth(user))
    [outs] = run_sync(running, warehouse, fast_policy).values()
    assert next(o for o in outs if o.service == "gmail").full_resync is None  # back on history


BAD = [
    ("xero", "bad_record", "/Invoices", "xero.payment", "xero.invoices"),
    ("xero", "malformed_json", "/Contacts", "xero.update_contact", "xero.contacts"),
    ("gmail", "bad_record", "/messages/", "gmail.client_reply", "gmail.messages"),
    ("gmail", "malformed_json", "/history", "gmail.client_reply", "gmail.messages"),
    ("asana", "bad_record", "/batch", "asana.complete_task", "asana.tasks"),
]


@pytest.mark.parametrize("service,kind,path,change,stream", BAD, ids=[f"{b[0]}-{b[1]}" for b in BAD])
def test_bad_provider_data_fails_the_page_and_keeps_the_cursor(make_sandbox, duckdb_warehouse, fast_policy,
                                                               service, kind, path, change, stream):
    running = make_sandbox(seed=35, users=1)
    user = running.user_ids()[0]
    run_sync(running, duckdb_warehouse, fast_policy)
    running.admin.post("/changes", json={"count": 5, "weights": {change: 1}})
    before = duckdb_warehouse.load_state(user, service)[stream].cursor
    running.admin.put("/faults", json={"scripted": [{"service": service, "kind": kind, "path": path, "times": 1}]})

    [outs] = run_sync(running, duckdb_warehouse, fast_policy).values()
    failed = next(o for o in outs if o.service == service)
    assert failed.status == "failed"
    assert user in failed.message and service in failed.message
    assert ("malformed JSON" in failed.message) if kind == "malformed_json" else ("bad " in failed.message)
    assert {o.status for o in outs if o.service != service} == {"ok"}
    state = duckdb_warehouse.load_state(user, service)[stream]
    assert state.cursor == before, "the cursor moved past a page that was refused"
    assert state.last_error and user in state.last_error

    [outs] = run_sync(running, duckdb_warehouse, fast_policy).values()  # the provider is sane again
    assert {o.status for o in outs} == {"ok"}
    assert_converged(duckdb_warehouse, running.sandbox.world.truth(user))


def test_a_bad_record_names_the_record(make_sandbox, duckdb_warehouse, fast_policy):
    running = make_sandbox(seed=36, users=1)
    user = running.user_ids()[0]
    running.admin.put("/faults", json={"scripted": [{"service": "xero", "kind": "bad_record", "path": "/Invoices"}]})
    [outs] = run_sync(running, duckdb_warehouse, fast_policy).values()
    xero = next(o for o in outs if o.service == "xero")
    first = json.loads(running.nango.get(
        "/proxy/api.xro/2.0/Invoices", params={"page": 1, "pageSize": 100, "order": "UpdatedDateUTC ASC"},
        headers={"Connection-Id": running.connection(user, "xero"), "Provider-Config-Key": "xero",
                 "Nango-Proxy-xero-tenant-id": running.sandbox.world.user(user).org.tenant_id}).content)
    assert first["Invoices"][0]["InvoiceID"] in xero.message
    assert "UpdatedDateUTC" in xero.message


def test_users_never_touch_each_others_rows(make_sandbox, warehouse, fast_policy):
    running = make_sandbox(seed=37, users=2)
    alice, bob = running.user_ids()
    run_sync(running, warehouse, fast_policy)
    snapshot = {t: warehouse.query(f"SELECT id, _hash, _synced_at, _deleted_at FROM raw.{t} "
                                   f"WHERE user_id = {warehouse.param('u')} ORDER BY id", {"u": bob})
                for t in ("gmail_messages", "asana_tasks", "xero_invoices")}
    running.admin.post("/changes", json={"fraction": 0.1, "users": [alice]})
    running.admin.post(f"/users/{alice}/gmail/expire-history")  # alice's resync sweeps her mailbox
    run_sync(running, warehouse, fast_policy, users=[alice])
    for table, rows in snapshot.items():
        assert warehouse.query(f"SELECT id, _hash, _synced_at, _deleted_at FROM raw.{table} "
                               f"WHERE user_id = {warehouse.param('u')} ORDER BY id", {"u": bob}) == rows
    assert_converged(warehouse, running.sandbox.world.truth(alice))
    overlap = warehouse.query("SELECT count(*) FROM raw.gmail_messages a JOIN raw.gmail_messages b "
                              "ON a.id = b.id AND a.user_id <> b.user_id")
    assert overlap == [(0,)]


def test_xero_daily_limit_pauses_xero_for_the_day(make_sandbox, duckdb_warehouse, fast_policy):
    running = make_sandbox(seed=38, users=1)
    user = running.user_ids()[0]
    run_sync(running, duckdb_warehouse, fast_policy)
    running.admin.put(f"/users/{user}/xero/day-remaining", json={"remaining": 0})
    [outs] = run_sync(running, duckdb_warehouse, fast_policy).values()
    xero = next(o for o in outs if o.service == "xero")
    assert xero.status == "paused" and "daily API limit" in xero.message and "paused until" in xero.message
    assert {o.status for o in outs if o.service != "xero"} == {"ok"}
    [outs] = run_sync(running, duckdb_warehouse, fast_policy).values()  # still paused, no calls made
    again = next(o for o in outs if o.service == "xero")
    assert again.status == "paused" and again.stats.requests == 0


def test_a_broken_connection_asks_for_reconnection(make_sandbox, duckdb_warehouse, fast_policy):
    running = make_sandbox(seed=39, users=1)
    user = running.user_ids()[0]
    running.admin.post(f"/connections/{running.connection(user, 'asana')}/break")
    [outs] = run_sync(running, duckdb_warehouse, fast_policy).values()
    asana = next(o for o in outs if o.service == "asana")
    assert asana.status == "failed" and "reconnect" in asana.message
