"""The pipeline as one long-running loop, for `sylo demo --serve` and small single-process installs.

It does what the Dagster sensor and schedule do, without a daemon: a user with new connection
events (a connection made, repaired, lost, or a purge asked for) is run at once; every
`sync_every` every connected user is. Both go through `Pipeline.run`, as the Dagster assets do.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from pipelines.pipeline import Pipeline
from pipelines.report import Report

log = logging.getLogger(__name__)


class PipelineLoop:
    def __init__(self, pipeline: Pipeline, *, poll_seconds: float = 1.0, sync_every: float = 300.0,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.pipeline, self.poll_seconds, self.sync_every, self.now = pipeline, poll_seconds, sync_every, now
        self.stopping = threading.Event()
        self.cursor = 0
        self.last_full = 0.0

    def tick(self) -> list[str]:
        """One pass; the users it ran."""
        report = self.run_once()
        return sorted(report.users) if report else []

    def run_once(self) -> Report | None:
        """Users with new events or pending purges, plus everyone when due; None when nothing was due."""
        appdb = self.pipeline.appdb
        events = appdb.events_after(self.cursor)
        if events:
            self.cursor = events[-1].id
        users = {e.user_id for e in events} | {p.user_id for p in appdb.pending_purges()}
        if time.monotonic() - self.last_full >= self.sync_every:
            self.last_full = time.monotonic()
            users |= {c.user_id for c in appdb.connections() if c.status == "connected"}
        if not users:
            return None
        report = self.pipeline.run(sorted(users), as_of=self.now())
        for user_id, failed in report.failures:
            log.warning("%s sync of %s failed: %s — %s", failed.service, user_id, failed.message, failed.next_step)
        return report

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.run_once()
            except Exception:  # a failed pass is logged and retried; the loop must not die
                log.exception("pipeline pass failed")
            self.stopping.wait(self.poll_seconds)

    def stop(self) -> None:
        self.stopping.set()
