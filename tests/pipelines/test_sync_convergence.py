"""Property: after every incremental sync the replica equals the sandbox's truth, deletions included."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.changes import DEFAULT_WEIGHTS
from tests.pipelines.conftest import run_sync
from tests.pipelines.convergence import assert_converged, assert_no_duplicates

VISIBLE_KINDS = sorted(k for k, w in DEFAULT_WEIGHTS.items() if w > 0)

change_batches = st.lists(
    st.tuples(st.floats(min_value=0.005, max_value=0.08),
              st.dictionaries(st.sampled_from(VISIBLE_KINDS), st.floats(min_value=1, max_value=20), max_size=3)),
    min_size=1, max_size=4)


def clear(warehouse) -> None:
    """Hypothesis reuses the fixture across examples: start each example from an empty replica."""
    for table in ("gmail_messages", "asana_projects", "asana_tasks", "xero_contacts", "xero_invoices", "sync_state"):
        warehouse.query(f"DELETE FROM raw.{table}")


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=100_000), plan=change_batches)
def test_every_incremental_sync_converges(make_sandbox, warehouse, fast_policy, seed, plan):
    clear(warehouse)
    running = make_sandbox(seed=seed, users=2)
    outcomes = run_sync(running, warehouse, fast_policy)
    assert all(o.status == "ok" for outs in outcomes.values() for o in outs), outcomes
    for user_id in running.user_ids():
        assert_converged(warehouse, running.sandbox.world.truth(user_id))
    for fraction, weights in plan:
        changed = running.admin.post("/changes", json={"fraction": fraction, "weights": weights}).json()
        assert changed["batch"] >= 1
        outcomes = run_sync(running, warehouse, fast_policy)
        for user_id, outs in outcomes.items():
            assert [o.status for o in outs] == ["ok", "ok", "ok"], [o.message for o in outs]
            assert_converged(warehouse, running.sandbox.world.truth(user_id))
    assert_no_duplicates(warehouse)


def test_a_sync_with_nothing_changed_writes_nothing(make_sandbox, warehouse, fast_policy):
    running = make_sandbox(seed=21, users=1)
    run_sync(running, warehouse, fast_policy)
    [outs] = run_sync(running, warehouse, fast_policy).values()
    assert {o.service: (o.totals.added, o.totals.updated, o.totals.deleted) for o in outs} == {
        "gmail": (0, 0, 0), "asana": (0, 0, 0), "xero": (0, 0, 0)}


def test_changes_are_counted_as_added_updated_deleted(make_sandbox, warehouse, fast_policy):
    running = make_sandbox(seed=22, users=1)
    run_sync(running, warehouse, fast_policy)
    for kind in ("asana.add_task", "xero.payment", "gmail.delete"):
        applied = running.admin.post("/changes", json={"count": 1, "weights": {kind: 1}}).json()["changes"]
        assert [c["kind"] for c in applied[running.user_ids()[0]]] == [kind]
    [outs] = run_sync(running, warehouse, fast_policy).values()
    by_service = {o.service: o.totals for o in outs}
    assert (by_service["asana"].added, by_service["asana"].deleted) == (1, 0)
    assert (by_service["xero"].added, by_service["xero"].updated) == (0, 1)  # one invoice paid
    assert by_service["gmail"].deleted == 1
