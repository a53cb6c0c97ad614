"""The outbox on both app databases: leases, outcomes with their health record, n8n's reported results."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sylo.appdb import AppDB
from sylo.commands import health
from sylo.commands.outbox import CommandFinished, Outbox, ResultReplayed


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def outbox(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'app.db'}" if request.param == "sqlite" else request.getfixturevalue(
        "postgres_database")
    db = AppDB(url)
    db.migrate()
    db.create_user("alice")
    yield Outbox(db.engine)
    db.close()


def claimed(outbox: Outbox, lease: timedelta = timedelta(seconds=30)):
    command, _ = outbox.accept(user_id="alice", message_id=f"msg_{len(outbox.counts())}_{datetime.now().timestamp()}",
                               action="asana.comment", params={"task_gid": "1", "text": "x"}, source="http")
    [claim] = outbox.claim(1, lease, command_id=command.id)
    return claim


def test_a_lease_kept_alive_is_not_claimed_again(outbox):
    command = claimed(outbox, lease=timedelta(seconds=-1))  # already lapsed
    assert outbox.extend_leases([command.id], timedelta(seconds=30)) == 1
    assert outbox.claim(10, timedelta(seconds=30)) == []


def test_an_outcome_applies_only_to_the_claim_that_made_the_delivery(outbox):
    stale = claimed(outbox, lease=timedelta(seconds=-1))
    [again] = outbox.claim(1, timedelta(seconds=30))  # another worker took the lapsed lease
    assert again.attempts == stale.attempts + 1
    assert outbox.delivered(stale, 200, {"late": True}) is False
    assert outbox.delivered(again, 200, {"ok": True}) is True
    assert outbox.get(again.id).result == {"ok": True}


def test_failures_of_one_cause_make_a_run_with_its_start(outbox):
    first = claimed(outbox)
    outbox.retry_later(first, "n8n answered 403: Authorization data is wrong!", datetime.now(timezone.utc), 403, "auth")
    for _ in range(2):
        [command] = outbox.claim(1, timedelta(seconds=30))
        outbox.retry_later(command, "n8n answered 403: Authorization data is wrong!", datetime.now(timezone.utc), 403,
                           "auth")
    current = health.current(outbox.engine)
    assert (current.cause, current.failures, current.failing) == ("auth", 3, True)
    since = current.since
    [command] = outbox.claim(1, timedelta(seconds=30))
    outbox.delivered(command, 200, {"ok": True})
    recovered = health.current(outbox.engine)
    assert (recovered.cause, recovered.failures, recovered.failing) == ("ok", 0, False)
    assert recovered.since > since and recovered.last_ok_at == recovered.since
    assert health.counts(outbox.engine) == [("delivered", "ok", 1), ("retry", "auth", 3)]


def test_a_rejection_is_not_a_failure_of_n8n(outbox):
    for _ in range(3):
        outbox.failed(claimed(outbox), "n8n refused it (422): no branch handles it", 422, "rejected")
    assert health.current(outbox.engine).failing is False


def test_a_result_settles_an_open_command_once(outbox):
    command = claimed(outbox)
    outbox.running(command, 202, {"status": "running"}, datetime.now(timezone.utc) + timedelta(minutes=5))
    done = outbox.report_result(command, "res_1", "succeeded", {"url": "https://x"}, None)
    assert (done.status, done.result, done.finished_at is not None) == ("succeeded", {"url": "https://x"}, True)
    with pytest.raises(ResultReplayed):
        outbox.report_result(claimed(outbox), "res_1", "succeeded", None, None)
    with pytest.raises(CommandFinished):
        outbox.report_result(done, "res_2", "failed", None, "late")
    assert outbox.get(command.id).status == "succeeded"
    assert outbox.forget_results(datetime.now(timezone.utc) + timedelta(seconds=1)) == 1


def test_an_overdue_running_command_fails_with_the_reason(outbox):
    command = claimed(outbox)
    outbox.running(command, 202, {"status": "running"}, datetime.now(timezone.utc) - timedelta(seconds=1))
    other = claimed(outbox)
    outbox.running(other, 202, {"status": "running"}, datetime.now(timezone.utc) + timedelta(hours=1))
    [expired] = outbox.expire_running("no result in time")
    assert (expired.id, expired.status, expired.last_error) == (command.id, "failed", "no result in time")
    assert outbox.get(other.id).status == "running"
    assert [e.kind for e in outbox.audit_entries("alice")][0] == "command.failed"
