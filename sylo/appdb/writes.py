"""Writing to the app DB from many threads and processes: one writer at a time, commits shared.

SQLite takes one writer at a time and, with `synchronous=FULL`, syncs its WAL to disk on every
commit. Two things set the pace under load, not the writes themselves: writers of other processes
waiting in SQLite's busy handler, which sleeps up to 100 ms between attempts, and one disk sync
per commit. `one_writer_at_a_time` queues writers on a lock the kernel hands over at once (a
thread lock, then an flock shared with the other processes); `GroupCommit` lets the writes that
queued up while one commit was syncing share the next commit (the group commit databases use for
their own logs: a leader commits for the followers that queued behind it). Every caller still
returns only after the commit that holds its write: nothing is acknowledged before it is durable.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from sqlalchemy import Connection, Engine, event

try:
    import fcntl
except ImportError:  # Windows: processes meet at SQLite's busy handler only
    fcntl = None

log = logging.getLogger(__name__)
T = TypeVar("T")
GROUP_LIMIT = 64  # writes sharing one commit at most: bounds what a failure in the group replays
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC")
_PENDING = object()
_DEFERRED = "sylo_at_commit"


class _Write(Generic[T]):
    __slots__ = ("work", "done", "result", "error", "lead")

    def __init__(self, work: Callable[[Connection], T]):
        self.work, self.done = work, threading.Event()
        self.result = _PENDING
        self.error: BaseException | None = None
        self.lead = False


class GroupCommit:
    """Runs `work(conn)` from many threads in shared transactions, each caller waiting for its own commit.

    The first caller to find no commit under way leads: it takes every write queued so far (up to
    `limit`), runs them in one transaction and commits; writes that arrive meanwhile queue for the
    next leader, one of them. When a write in a group raises, the group is rolled back and each of
    its writes runs again in a transaction of its own, so the failure is its caller's alone. `work`
    must therefore only touch the database (no effects outside it that a replay would repeat).
    """

    def __init__(self, engine: Engine, limit: int = GROUP_LIMIT):
        self.engine, self.limit = engine, limit
        self._lock = threading.Lock()
        self._queue: list[_Write] = []
        self._leading = False

    def run(self, work: Callable[[Connection], T]) -> T:
        """`work`'s result once the transaction that ran it has committed; its exception otherwise."""
        write = _Write(work)
        with self._lock:
            self._queue.append(write)
            write.lead = not self._leading
            self._leading = True
        if not write.lead:
            write.done.wait()
        if write.lead:  # first in, or handed the lead by the commit before
            self._commit_next()
            write.done.wait()
        if write.error is not None:
            raise write.error
        return write.result

    def _commit_next(self) -> None:
        """Commit one group, then hand the lead to the first write still waiting."""
        with self._lock:
            group, self._queue = self._queue[:self.limit], self._queue[self.limit:]
        try:
            self._commit(group)
        except BaseException as error:  # the leader was interrupted: no write of its group may pass for done
            for write in group:
                if write.result is _PENDING and write.error is None:
                    write.error = error
            raise
        finally:
            with self._lock:
                successor = self._queue[0] if self._queue else None
                self._leading = successor is not None
            if successor is not None:
                successor.lead = True
                successor.done.set()
            for write in group:
                write.done.set()

    def _commit(self, group: list[_Write]) -> None:
        if len(group) > 1:
            try:
                with self.engine.begin() as conn:
                    results = _run(conn, [write.work for write in group])
            except Exception:
                log.debug("a write in a group of %d failed; running each alone", len(group), exc_info=True)
            else:
                for write, result in zip(group, results):
                    write.result = result
                return
        for write in group:
            try:
                with self.engine.begin() as conn:
                    [result] = _run(conn, [write.work])
            except Exception as error:  # handed to its caller's thread
                write.error = error
            else:
                write.result = result


def _run(conn: Connection, works: list[Callable[[Connection], T]]) -> list[T]:
    """Run the writes, then what they deferred to the end of the transaction (see `at_commit`)."""
    conn.info[_DEFERRED] = {}
    try:
        results = [work(conn) for work in works]
        for flush, items in conn.info[_DEFERRED].values():
            flush(conn, items)
        return results
    finally:
        del conn.info[_DEFERRED]  # conn.info outlives the transaction: it belongs to the pooled connection


def at_commit(conn: Connection, flush: Callable[[Connection, list], None], item) -> None:
    """Collect `item` for one call of `flush(conn, items)` just before this transaction commits.

    Writes that share a commit can then share one statement too (a counter updated once per group
    rather than once per write). Outside a GroupCommit transaction `flush` runs at once."""
    deferred = conn.info.get(_DEFERRED)
    if deferred is None:
        flush(conn, [item])
        return
    deferred.setdefault(flush, (flush, []))[1].append(item)


_groups: "weakref.WeakKeyDictionary[Engine, GroupCommit]" = weakref.WeakKeyDictionary()
_groups_lock = threading.Lock()


def group_commit(engine: Engine) -> GroupCommit:
    """The engine's one GroupCommit: every writer in the process shares it."""
    with _groups_lock:
        group = _groups.get(engine)
        if group is None:
            group = _groups[engine] = GroupCommit(engine)
        return group


def one_writer_at_a_time(engine: Engine, lock_path: Path | None) -> None:
    """Writers take turns on a lock before SQLite sees them: threads on a thread lock, processes on
    an flock of `lock_path` (the kernel wakes the next one when it is released; SQLite's busy handler
    would sleep). A transaction takes the turn at its first write and gives it back when it ends."""
    writing = threading.Lock()
    shared = _FileLock(lock_path) if lock_path is not None and fcntl is not None else None

    @event.listens_for(engine, "before_cursor_execute")
    def _take(conn, _cursor, statement, _parameters, _context, _executemany) -> None:
        if "sylo_writing" not in conn.info and statement.lstrip()[:6].upper() in _WRITES:
            writing.acquire()
            conn.info["sylo_writing"] = True
            if shared is not None:
                shared.acquire()

    def _give(conn) -> None:
        if conn.info.pop("sylo_writing", None):
            if shared is not None:
                shared.release()
            writing.release()

    event.listen(engine, "commit", _give)
    event.listen(engine, "rollback", _give)


class _FileLock:
    """An exclusive flock on a file beside the database, opened once per process (after a fork too)."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None
        self._pid = 0

    def acquire(self) -> None:
        if self._fd is None or self._pid != os.getpid():  # a forked child must not share its parent's lock
            self._fd, self._pid = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
