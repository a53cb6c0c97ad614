"""Group commit and the writers' queue on both app databases: shared commits, failures kept to their
own caller, every write durable before its caller returns."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.exc import IntegrityError

from sylo.appdb import AppDB
from sylo.appdb.schema import audit_log, commands
from sylo.appdb.writes import GroupCommit, group_commit
from sylo.commands import health
from sylo.commands.outbox import Outbox

BUDGET = 30.0  # seconds a condition may take on a loaded machine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return request.getfixturevalue("postgres_database")


@pytest.fixture
def appdb(url):
    db = AppDB(url)
    db.migrate()
    db.create_user("alice")
    yield db
    db.close()


def wait_for(condition) -> None:
    deadline = time.monotonic() + BUDGET
    while not condition():
        assert time.monotonic() < deadline, "condition not met within the budget"
        threading.Event().wait(0.005)


def commits(engine) -> list[int]:
    """A list that grows by one for every commit on `engine`."""
    seen: list[int] = []
    event.listen(engine, "commit", lambda _conn: seen.append(1))
    return seen


def one_group(group: GroupCommit, works: list) -> list:
    """Run `works` so that all but the first share one commit: the first holds the lead until the rest queue.

    Returns each work's result or the exception it raised, in order."""
    release = threading.Event()
    first, rest = works[0], works[1:]

    def held(conn):
        release.wait(BUDGET)
        return first(conn)

    def call(work):
        try:
            return group.run(work)
        except Exception as error:
            return error

    with ThreadPoolExecutor(len(works)) as pool:
        futures = [pool.submit(call, held)]
        wait_for(lambda: group._leading)
        futures += [pool.submit(call, work) for work in rest]
        wait_for(lambda: len(group._queue) == len(rest))
        release.set()
        return [future.result(timeout=BUDGET) for future in futures]


def audit(detail: str):
    return lambda conn: conn.execute(insert(audit_log).values(kind="test", outcome="ok", detail=detail,
                                                              created_at=datetime.now(timezone.utc)))


def details(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(audit_log.c.detail).where(audit_log.c.kind == "test")).scalars())


def test_writes_queued_behind_a_commit_share_the_next_one(appdb):
    group, seen = GroupCommit(appdb.engine), commits(appdb.engine)
    one_group(group, [audit(f"w{n}") for n in range(10)])
    assert len(seen) == 2  # the leader's own, then the nine that queued meanwhile
    assert details(appdb.engine) == sorted(f"w{n}" for n in range(10))


def test_a_failing_write_fails_only_its_caller_and_the_others_are_written_once(appdb):
    def broken(conn):
        audit("never")(conn)
        raise ValueError("this write fails after its statement ran")

    works = [audit("w0"), audit("w1"), broken, audit("w3"), audit("w4")]
    results = one_group(GroupCommit(appdb.engine), works)
    assert [type(r).__name__ for r in results] == ["CursorResult", "CursorResult", "ValueError",
                                                   "CursorResult", "CursorResult"]
    assert details(appdb.engine) == ["w0", "w1", "w3", "w4"]  # replayed after the rollback, none twice


def test_concurrent_accepts_are_durable_and_visible_when_they_return(appdb, url):
    outbox, reader = Outbox(appdb.engine), AppDB(url)  # the reader's connections see only what was committed

    def accept(n: int) -> str:
        command, replayed = outbox.accept(user_id="alice", message_id=f"msg_{n}", action="asana.comment",
                                          params={"task_gid": str(n), "text": "x"}, source="http")
        assert not replayed
        with reader.engine.connect() as conn:
            assert conn.execute(select(commands.c.id).where(commands.c.id == command.id)).scalar() == command.id
        return command.id

    with ThreadPoolExecutor(32) as pool:
        ids = list(pool.map(accept, range(200)))
    reader.close()
    assert len(set(ids)) == 200
    with appdb.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(commands)).scalar() == 200
        accepted = conn.execute(select(audit_log.c.command_id).where(audit_log.c.kind == "command.accepted"))
        assert sorted(accepted.scalars()) == sorted(ids)


def test_a_repeated_message_id_among_concurrent_accepts_is_a_replay_and_the_rest_are_stored(appdb):
    outbox = Outbox(appdb.engine)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda m: outbox.accept(user_id="alice", message_id=m, action="asana.comment",
                                                        params={"task_gid": "1", "text": "x"}, source="http"),
                                ["a", "b", "a", "c", "a", "d"]))
    originals = {command.message_id: command.id for command, replayed in answers if not replayed}
    assert sorted(originals) == ["a", "b", "c", "d"]
    assert all(command.id == originals[command.message_id] for command, _ in answers)
    assert sum(replayed for _, replayed in answers) == 2
    with appdb.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(commands)).scalar() == 4


def test_an_integrity_error_in_a_group_reaches_only_its_caller(appdb):
    row = dict(id="cmd_1", user_id="alice", message_id="m", action="a", params="{}", source="http", status="queued",
               attempts=0, next_attempt_at=datetime.now(timezone.utc), created_at=datetime.now(timezone.utc),
               updated_at=datetime.now(timezone.utc))
    store = lambda conn: conn.execute(insert(commands).values(**row))  # noqa: E731
    results = one_group(GroupCommit(appdb.engine), [audit("w0"), store, audit("w2"), store, audit("w4")])
    assert [isinstance(r, IntegrityError) for r in results] == [False, False, False, True, False]
    assert details(appdb.engine) == ["w0", "w2", "w4"]


def test_two_drainers_never_claim_the_same_command(appdb, url):
    outbox = Outbox(appdb.engine)
    for n in range(300):
        outbox.accept(user_id="alice", message_id=f"msg_{n}", action="asana.comment",
                      params={"task_gid": "1", "text": "x"}, source="http")
    other = AppDB(url)  # a second process's engine: its own pool, lock and group commit
    drainers = [outbox, Outbox(other.engine)]
    claimed: list[list[str]] = [[] for _ in range(8)]

    def drain(n: int) -> None:
        while batch := drainers[n % 2].claim(7, timedelta(minutes=5)):
            claimed[n] += [command.id for command in batch]

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(drain, range(8)))
    other.close()
    every = [command_id for ids in claimed for command_id in ids]
    assert len(every) == len(set(every)) == 300
    assert outbox.counts() == {"delivering": 300}


def test_writers_of_two_engines_on_one_sqlite_file_queue_instead_of_failing(tmp_path):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    first, second = AppDB(url), AppDB(url)
    first.migrate()
    groups = [GroupCommit(first.engine), GroupCommit(second.engine)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: groups[n % 2].run(audit(f"w{n:03d}")), range(400)))
    assert details(first.engine) == [f"w{n:03d}" for n in range(400)]
    assert (tmp_path / "app.db.writer").exists()
    first.close()
    second.close()


ATTEMPTS = {
    "failures then recovery": ["auth", "auth", "ok", "server_error", "server_error"],
    "a run that goes on": ["auth", "auth", "auth"],
    "all ok": ["ok", "ok", "ok", "ok"],
    "a rejection is ok": ["timeout", "rejected", "timeout"],
}


@pytest.mark.parametrize("before", [None, "auth", "ok"])
@pytest.mark.parametrize("causes", ATTEMPTS.values(), ids=ATTEMPTS.keys())
def test_delivery_health_written_once_per_group_is_as_if_written_one_by_one(url, tmp_path, causes, before):
    alone, grouped = AppDB(f"sqlite:///{tmp_path / 'alone.db'}"), AppDB(url)
    for db in (alone, grouped):
        db.migrate()
    start = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)

    def attempt(n: int, cause: str):
        outcome = "delivered" if cause in ("ok", "rejected") else "retry"
        return lambda conn: health.record(conn, outcome=outcome, cause=cause, status=500 + n, reason=f"answer {n}",
                                          at=start + timedelta(seconds=n))

    earlier = [attempt(0, before)] if before else []
    works = [attempt(n + 1, cause) for n, cause in enumerate(causes)]
    for work in earlier + works:  # one transaction each
        GroupCommit(alone.engine).run(work)
    for work in earlier:
        GroupCommit(grouped.engine).run(work)
    one_group(GroupCommit(grouped.engine), [lambda conn: None] + works)
    assert health.current(grouped.engine) == health.current(alone.engine)
    assert health.counts(grouped.engine) == health.counts(alone.engine)
    alone.close()
    grouped.close()
