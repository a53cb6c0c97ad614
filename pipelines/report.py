"""What one pipeline run did, per user and service, in terms an operator can act on.

Every caller (the Dagster assets and batch job, the loop, the CLI) gets the same `Report` from
`Pipeline.run` and only translates it: Dagster into materializations and checks, the CLI into
lines. A state is data here (`SyncStatus`, `Problem`), never a sentence to be parsed later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pipelines.documents.publish import Published
from pipelines.sync.engine import Outcome
from sylo.services import service as service_info


class SyncStatus(StrEnum):
    SYNCED = "synced"  # the sync ran to the end (possibly finding nothing new)
    FAILED = "failed"  # it stopped; see the problem and the next step
    PAUSED = "paused"  # the provider's daily quota is spent; it resumes by itself
    NOT_CONNECTED = "not_connected"  # the studio has not connected this service
    SKIPPED = "skipped"  # not asked for in this run


class Problem(StrEnum):
    REAUTH = "reauth"  # the provider refused Sylo's access: only the studio owner can fix it
    TRANSIENT = "transient"  # Nango or the provider failed or limited us beyond the client's retries
    DATA = "data"  # the provider sent something we cannot read


def next_step(problem: Problem, service: str) -> str:
    """What the operator should do about a failed sync, in one sentence."""
    name = service_info(service).display_name
    if problem is Problem.REAUTH:
        return (f"The studio owner must reconnect {name} on the dashboard's Connections page; "
                "retrying will not help until they do.")
    if problem is Problem.DATA:
        return (f"{name} sent data Sylo could not read; progress up to the last good page is kept. If the next "
                "sync fails the same way, report it with this run.")
    return (f"Nango or {name} failed or rate-limited us beyond the HTTP client's retries; the next scheduled sync "
            "tries again. If it keeps failing, check Nango's status and the provider's.")


@dataclass
class ServiceReport:
    """One service of one user: what the sync did, or why it did not."""

    service: str
    status: SyncStatus
    outcome: Outcome | None = None
    problem: Problem | None = None
    message: str | None = None

    @property
    def next_step(self) -> str | None:
        return next_step(self.problem, self.service) if self.problem else None

    @property
    def changed(self) -> bool:
        totals = self.outcome.totals if self.outcome else None
        return bool(totals and (totals.added or totals.updated or totals.deleted))

    @property
    def newsworthy(self) -> bool:
        """Worth reporting: new data, a first sync, a failure or pause, or a recovery from one.

        A pass that found nothing new and stands as the last one did changes nothing an operator
        would look at; reporting it anyway would cost the event log thousands of rows per run.
        """
        if self.status is not SyncStatus.SYNCED:
            return self.status in (SyncStatus.FAILED, SyncStatus.PAUSED)
        return self.changed or bool(self.outcome and (self.outcome.first or self.outcome.recovered))

    @classmethod
    def from_outcome(cls, outcome: Outcome) -> "ServiceReport":
        if outcome.status == "skipped":
            return cls(outcome.service, SyncStatus.NOT_CONNECTED, outcome, message=outcome.message)
        status = {"ok": SyncStatus.SYNCED, "failed": SyncStatus.FAILED, "paused": SyncStatus.PAUSED}[outcome.status]
        problem = Problem(outcome.problem) if status is SyncStatus.FAILED else None
        return cls(outcome.service, status, outcome, problem, outcome.message)


@dataclass
class ModelReport:
    """One model, for one user: rows in their slice and failing rows per test (empty: all pass)."""

    name: str
    rows: int
    failures: dict[str, int] = field(default_factory=dict)
    full_rebuild: bool = False


@dataclass
class UserReport:
    user_id: str
    services: dict[str, ServiceReport] = field(default_factory=dict)
    purged: list[str] = field(default_factory=list)  # services whose data was deleted, as the owner asked
    rows: dict[str, int] = field(default_factory=dict)  # live rows per raw table, after the sync
    models: list[ModelReport] = field(default_factory=list)  # empty when the user's slice was not rebuilt
    published: Published | None = None  # None when the documents were not rebuilt

    @property
    def failures(self) -> list[ServiceReport]:
        return [s for s in self.services.values() if s.status is SyncStatus.FAILED]

    @property
    def rebuilt(self) -> bool:
        return self.published is not None


@dataclass
class Report:
    as_of: datetime
    users: dict[str, UserReport] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed_users(self) -> list[str]:
        return [u.user_id for u in self.users.values() if u.failures]

    @property
    def failures(self) -> list[tuple[str, ServiceReport]]:
        return [(u.user_id, s) for u in self.users.values() for s in u.failures]

    @property
    def rebuilt(self) -> list[str]:
        return [u.user_id for u in self.users.values() if u.rebuilt]

    @property
    def written(self) -> list[str]:
        """Users whose exported files changed."""
        return [u.user_id for u in self.users.values() if u.published and not u.published.unchanged]
