"""The sync engine and the group writer on their own: a Source that yields batches, a real warehouse.

The end-to-end tests drive them through the sandbox; these pin the rules each keeps by itself:
pages are checkpointed, a failure keeps the progress before it and never moves the cursor past
it, each problem is named for what the operator must do, and a writer group that fails fails
only the batch that broke it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from pipelines.sync.engine import BadData, SyncContext, SyncSettings, settle, sync_service
from pipelines.sync.retry import DailyLimitReached, RetryPolicy
from pipelines.warehouse import Batch, StreamState
from pipelines.warehouse.writer import GroupWriter
from sylo.nango.client import Connection, CredentialsError

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
CONNECTION = Connection(connection_id="conn-1", integration="asana", tags={"end_user_id": "u_1"}, created="")


def project(gid: str, name: str = "Library") -> dict:
    return {"user_id": "u_1", "id": gid, "workspace_id": "w1", "name": name, "archived": False, "notes": None,
            "owner_name": None, "start_on": None, "due_on": None, "created_at": None, "modified_at": None,
            "permalink_url": None, "_hash": f"h-{gid}-{name}", "_synced_at": NOW, "_deleted_at": None}


class PagedSource:
    """Asana-shaped: one page of projects per batch, the cursor counting pages; may fail after some."""

    service = "asana"
    streams = ("asana.projects", "asana.tasks")

    def __init__(self, pages: int, fail_after: int | None = None, error: Exception | None = None):
        self.pages, self.fail_after, self.error = pages, fail_after, error

    def batches(self, ctx: SyncContext) -> Iterator[Batch]:
        state = ctx.stream("asana.projects")
        for page in range(self.pages):
            if page == self.fail_after:
                raise self.error
            state.cursor = {"page": page + 1}
            yield Batch(rows={"asana_projects": [project(f"p{page}-{i}") for i in range(10)]},
                        states=[StreamState("asana.projects", dict(state.cursor))])

    def cursor_summary(self, ctx: SyncContext) -> str:
        return str((ctx.stream("asana.projects").cursor or {}).get("page"))


def run(warehouse, source, **settings) -> object:
    outcome = sync_service(source, user_id="u_1", connection=CONNECTION, client=None, warehouse=warehouse,
                           settings=SyncSettings(**settings), policy=RetryPolicy(sleep=lambda _: None))
    return settle(outcome)


def test_every_page_lands_with_the_cursor_that_covers_it(duckdb_warehouse):
    outcome = run(duckdb_warehouse, PagedSource(pages=5), flush_rows=20)
    assert outcome.status == "ok" and outcome.counts["asana_projects"].added == 50 and outcome.pages == 5
    state = duckdb_warehouse.load_state("u_1", "asana")
    assert state["asana.projects"].cursor == {"page": 5} and state["asana.projects"].last_success_at is not None
    assert state["asana.tasks"].last_success_at is not None  # every stream of the service is stamped
    again = run(duckdb_warehouse, PagedSource(pages=5), flush_rows=20)
    assert again.totals.added == again.totals.updated == 0  # re-read rows are not rewritten


@pytest.mark.parametrize(("error", "status", "problem"), [
    (BadData("bad asana record p3-0"), "failed", "data"),
    (CredentialsError("invalid_grant"), "failed", "reauth"),
])
def test_a_failure_keeps_the_progress_before_it_and_names_the_problem(duckdb_warehouse, error, status, problem):
    outcome = run(duckdb_warehouse, PagedSource(pages=5, fail_after=3, error=error), flush_rows=10)
    assert (outcome.status, outcome.problem) == (status, problem)
    state = duckdb_warehouse.load_state("u_1", "asana")["asana.projects"]
    assert state.cursor == {"page": 3}, "the pages before the failure are kept, the cursor no further"
    assert len(duckdb_warehouse.live_ids("u_1", "asana_projects")) == 30
    assert state.last_error and state.last_success_at is None


def test_a_spent_daily_quota_pauses_the_service_until_it_resets(duckdb_warehouse):
    paused = run(duckdb_warehouse, PagedSource(pages=3, fail_after=1, error=DailyLimitReached("asana", 3600)))
    assert paused.status == "paused" and "daily API limit" in paused.message
    blocked = duckdb_warehouse.load_state("u_1", "asana")["asana.projects"].blocked_until
    assert blocked > datetime.now(timezone.utc) + timedelta(minutes=50)
    untouched = run(duckdb_warehouse, PagedSource(pages=3))  # still paused: no call is made
    assert untouched.status == "paused" and untouched.pages == 0


def test_the_group_writer_shares_commits_and_a_bad_batch_fails_alone(duckdb_warehouse):
    with GroupWriter(duckdb_warehouse, linger=0.2) as writer:
        good = [writer.submit(f"u_{n}", Batch(rows={"asana_projects": [{**project("p1"), "user_id": f"u_{n}"}]}),
                              NOW) for n in range(6)]
        broken = writer.submit("u_bad", Batch(rows={"asana_projects": [{"id": "p1", "no_such_column": 1}]}), NOW)
        for future in good:
            assert future.result(timeout=60)["asana_projects"].added == 1
        with pytest.raises(Exception):
            broken.result(timeout=60)
    assert writer.batches >= 7 and writer.groups < writer.batches  # batches shared transactions
    assert all(duckdb_warehouse.live_ids(f"u_{n}", "asana_projects") for n in range(6))


def test_the_group_writer_takes_batches_from_many_threads(duckdb_warehouse):
    with GroupWriter(duckdb_warehouse, linger=0.05) as writer:
        def feed(n: int) -> None:
            for page in range(5):
                rows = [{**project(f"p{page}-{i}"), "user_id": f"u_{n}"} for i in range(3)]
                writer.apply(f"u_{n}", Batch(rows={"asana_projects": rows}), NOW)

        threads = [threading.Thread(target=feed, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert [len(duckdb_warehouse.live_ids(f"u_{n}", "asana_projects")) for n in range(4)] == [15] * 4
