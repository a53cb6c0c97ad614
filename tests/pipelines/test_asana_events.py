"""Asana through its Events API: deletions and moves land on the next incremental run, within the
request budget of polling, and an expired token falls back to a listing without losing anything."""

from __future__ import annotations

from datetime import timedelta

from pipelines.sync import SyncSettings
from tests.pipelines.conftest import run_sync

# The reconciliation is the safety net, not what makes these runs exact: keep it out of the way.
EVENTS_ONLY = SyncSettings(asana_reconcile_every=timedelta(days=365), gmail_fetch_workers=4)


def live(warehouse, user_id: str) -> set[str]:
    return set(warehouse.live_ids(user_id, "asana_tasks"))


def truth(sandbox, user_id: str) -> set[str]:
    tasks = sandbox.admin.get(f"/users/{user_id}/truth").json()["asana"]["tasks"]
    return {t["gid"] for t in tasks if not t["deleted"]}


def asana_requests(outcomes) -> int:
    return next(o for o in outcomes if o.service == "asana").stats.requests


def test_deleted_tasks_are_gone_after_the_next_incremental_run(sandbox, duckdb_warehouse, fast_policy):
    user = sandbox.user_ids()[0]
    run_sync(sandbox, duckdb_warehouse, fast_policy, EVENTS_ONLY, users=[user])
    polled = asana_requests(run_sync(sandbox, duckdb_warehouse, fast_policy, EVENTS_ONLY, users=[user])[user])
    sandbox.admin.post("/changes", json={"count": 4, "users": [user], "weights": {"asana.delete_task": 1}})
    sandbox.admin.post("/changes", json={"count": 4, "users": [user], "weights": {"asana.complete_task": 1}})
    outcomes = run_sync(sandbox, duckdb_warehouse, fast_policy, EVENTS_ONLY, users=[user])[user]
    assert live(duckdb_warehouse, user) == truth(sandbox, user)
    asana = next(o for o in outcomes if o.service == "asana")
    assert asana.counts["asana_tasks"].deleted == 4
    assert asana.stats.requests <= polled + 2, "events cost what polling did, plus the changed tasks' reads"


def test_moved_and_edited_tasks_are_read_again(sandbox, duckdb_warehouse, fast_policy):
    user = sandbox.user_ids()[0]
    run_sync(sandbox, duckdb_warehouse, fast_policy, EVENTS_ONLY, users=[user])
    sandbox.admin.post("/changes", json={"count": 3, "users": [user], "weights": {"asana.move_project": 1}})
    run_sync(sandbox, duckdb_warehouse, fast_policy, EVENTS_ONLY, users=[user])
    homes = duckdb_warehouse.live_ids(user, "asana_tasks", ("project_id",))
    tasks = sandbox.admin.get(f"/users/{user}/truth").json()["asana"]["tasks"]
    upstream = {t["gid"]: t["memberships"][0]["project"]["gid"] for t in tasks if not t["deleted"]}
    assert {gid: home for gid, (home,) in homes.items()} == upstream


def test_an_expired_token_falls_back_to_a_listing(sandbox, duckdb_warehouse, fast_policy):
    user = sandbox.user_ids()[0]
    run_sync(sandbox, duckdb_warehouse, fast_policy, EVENTS_ONLY, users=[user])
    sandbox.admin.post("/changes", json={"count": 3, "users": [user], "weights": {"asana.complete_task": 1}})
    sandbox.admin.post(f"/users/{user}/asana/expire-sync")
    outcomes = run_sync(sandbox, duckdb_warehouse, fast_policy, EVENTS_ONLY, users=[user])[user]
    asana = next(o for o in outcomes if o.service == "asana")
    assert asana.status == "ok" and any("expired" in note for note in asana.notes)
    completed = {t["gid"] for t in sandbox.admin.get(f"/users/{user}/truth").json()["asana"]["tasks"]
                 if t["completed"] and not t["deleted"]}
    held = duckdb_warehouse.live_ids(user, "asana_tasks", ("completed",))
    assert {gid for gid, (done,) in held.items() if done} == completed
    sandbox.admin.post("/changes", json={"count": 2, "users": [user], "weights": {"asana.delete_task": 1}})
    run_sync(sandbox, duckdb_warehouse, fast_policy, EVENTS_ONLY, users=[user])
    assert live(duckdb_warehouse, user) == truth(sandbox, user), "the fresh tokens work from the next run"
