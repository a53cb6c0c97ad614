"""The pipeline as one long-running loop, for `sylo demo --serve` and small single-process installs.

It does what the Dagster sensor and schedule do, without a daemon: new connection events sync
that user at once; purge requests delete a service's data; every `sync_every` every connected
user is synced incrementally; users whose data changed get fresh documents. Production runs the
same core through Dagster (`assets/definitions.py`).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone

from sylo.nango.reconcile import SYNC_TRIGGERS
from pipelines.runtime import Runtime

log = logging.getLogger(__name__)


class PipelineLoop:
    def __init__(self, runtime: Runtime, *, poll_seconds: float = 1.0, sync_every: float = 300.0,
                 now=lambda: datetime.now(timezone.utc)):
        self.runtime, self.poll_seconds, self.sync_every, self.now = runtime, poll_seconds, sync_every, now
        self.stopping = threading.Event()
        self.cursor = 0
        self.last_full = 0.0

    def tick(self) -> list[str]:
        """One pass: purges, then users with new connection events, then the periodic sync. Returns users synced."""
        appdb = self.runtime.appdb
        purged = self.runtime.purge_requested()
        events = appdb.events_after(self.cursor)
        if events:
            self.cursor = events[-1].id
        users = sorted({e.user_id for e in events if e.kind in SYNC_TRIGGERS})
        if time.monotonic() - self.last_full >= self.sync_every:
            self.last_full = time.monotonic()
            users = sorted({c.user_id for c in appdb.connections() if c.status == "connected"} | set(users))
        if users:
            as_of = self.now()
            results = self.runtime.sync(users)
            refresh = set(self.runtime.users_to_refresh(results, as_of)) | {e.user_id for e in events}
            self.runtime.compile(sorted(refresh | purged), as_of)
        elif purged or events:
            self.runtime.compile(sorted(purged | {e.user_id for e in events}), self.now())
        return users

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.tick()
            except Exception:  # a failed pass is logged and retried; the loop must not die
                log.exception("pipeline pass failed")
            self.stopping.wait(self.poll_seconds)

    def stop(self) -> None:
        self.stopping.set()
