"""The one sync engine. A service is a `Source` that yields `Batch`es; the engine does the rest:
fetching through Nango with retries, validating, applying each batch (rows, tombstones, cursor)
in one warehouse transaction, and reporting what happened in terms an operator can act on.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from sylo.nango.client import Connection, CredentialsError, NangoClient, NangoError
from pipelines.sync.retry import CallStats, DailyLimitReached, RetriesExhausted, RetryPolicy, call_with_retries
from pipelines.warehouse import Batch, Counts, StreamState, Warehouse
from pipelines.warehouse.writer import GroupWriter

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


class BadData(Exception):
    """A provider sent something we cannot trust; the page is refused, the cursor stays put."""


@dataclass(frozen=True)
class SyncSettings:
    overlap: timedelta = timedelta(seconds=120)
    asana_reconcile_every: timedelta = timedelta(hours=6)
    xero_full_refresh_every: timedelta = timedelta(days=7)
    gmail_fetch_workers: int = 8
    gmail_page_size: int = 100  # bounds the rows held per mailbox in flight (and checkpoints often)
    # Small consecutive batches share one transaction (a commit costs an fsync); a backfill still
    # checkpoints about every page.
    flush_rows: int = 100

    @classmethod
    def from_settings(cls, settings: Any) -> "SyncSettings":
        return cls(overlap=timedelta(seconds=settings.sync_overlap_seconds),
                   asana_reconcile_every=timedelta(hours=settings.asana_reconcile_hours),
                   xero_full_refresh_every=timedelta(hours=settings.xero_full_refresh_hours),
                   gmail_fetch_workers=settings.gmail_fetch_workers)


@dataclass
class Outcome:
    """What one service's sync did for one user."""

    user_id: str
    service: str
    status: str = "ok"  # ok | failed | paused | skipped
    counts: dict[str, Counts] = field(default_factory=dict)
    pages: int = 0
    stats: CallStats = field(default_factory=CallStats)
    cursor: str = ""
    full_resync: str | None = None
    message: str | None = None
    problem: str | None = None  # failed: reauth | transient | data (what an operator should do differs)
    first: bool = False  # no stream of the service had synced successfully before this run
    recovered: bool = False  # the previous run of the service failed or was paused
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    pending: "PendingCommit | None" = field(default=None, repr=False)  # the final commit, until `settle`

    def add(self, counts: dict[str, Counts], pages: int) -> None:
        for table, value in counts.items():
            self.counts.setdefault(table, Counts())
            self.counts[table] += value
        self.pages += pages

    @property
    def totals(self) -> Counts:
        total = Counts()
        for value in self.counts.values():
            total += value
        return total

    def metadata(self) -> dict[str, Any]:
        """Flat, PII-free numbers and words for the Dagster UI."""
        total = self.totals
        return {"status": self.status, "added": total.added, "updated": total.updated, "deleted": total.deleted,
                "pages": self.pages, "requests": self.stats.requests, "retries": self.stats.retries,
                "rate_limited": self.stats.rate_limited, "rate_limit_wait_s": round(self.stats.rate_limit_wait_s, 2),
                "cursor": self.cursor, "full_resync": self.full_resync or "", "message": self.message or "",
                "notes": "; ".join(self.notes), "seconds": round(self.seconds, 2)}


class SyncContext:
    """Everything a Source needs for one user's service: fetching, parsing, state, time."""

    def __init__(self, *, user_id: str, service: str, connection: Connection, client: NangoClient,
                 warehouse: Warehouse | GroupWriter, state: dict[str, StreamState], settings: SyncSettings,
                 policy: RetryPolicy, outcome: Outcome):
        self.user_id, self.service, self.connection = user_id, service, connection
        self.client, self.warehouse, self.state = client, warehouse, state
        self.settings, self.policy, self.outcome = settings, policy, outcome
        self.started = datetime.now(timezone.utc)

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def stream(self, name: str) -> StreamState:
        return self.state.setdefault(name, StreamState(name))

    def full_resync(self, reason: str) -> None:
        log.warning("user %s: %s", self.user_id, reason)
        self.outcome.full_resync = reason

    def note(self, message: str) -> None:
        log.info("user %s: %s", self.user_id, message)
        self.outcome.notes.append(message)

    def request(self, method: str, path: str, *, params: Any = None, headers: dict[str, str] | None = None,
                json_body: Any = None) -> Any:
        """One proxied call with retries; returns the parsed JSON body."""
        return self._json(self._send(method, path, params=params, headers=headers, json_body=json_body), path)

    def _send(self, method: str, path: str, *, params: Any, headers: dict[str, str] | None,
              json_body: Any) -> httpx.Response:
        return call_with_retries(
            lambda: self.client.proxy(method, path, connection_id=self.connection.connection_id,
                                      integration=self.connection.integration, params=params, headers=headers,
                                      json_body=json_body),
            service=self.service, policy=self.policy, stats=self.outcome.stats)

    def _json(self, response: httpx.Response, path: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise BadData(f"{self.service} sent malformed JSON for {path} (user {self.user_id}): {exc}") from exc

    def get(self, path: str, params: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params, headers=headers)

    def get_with_digest(self, path: str, params: Any = None) -> tuple[Any, str]:
        """GET, returning the parsed body and a digest of its bytes (to notice an unchanged listing)."""
        response = self._send("GET", path, params=params, headers=None, json_body=None)
        return self._json(response, path), hashlib.sha1(response.content).hexdigest()

    def parse(self, model: type[M], raw: Any, *, where: str, key: str = "id") -> M:
        """Validate one record; a failure names the user, the service and the record."""
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            ident = raw.get(key) if isinstance(raw, dict) else None
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}" for e in exc.errors()[:3])
            raise BadData(f"bad {self.service} record {ident or '(no id)'} for user {self.user_id} "
                          f"({where}): {problems}") from exc

    def parse_list(self, model: type[M], body: Any, list_key: str, *, where: str, key: str = "id") -> list[M]:
        items = body.get(list_key, []) if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise BadData(f"{self.service} response for user {self.user_id} ({where}) has no '{list_key}' list")
        return [self.parse(model, item, where=f"{where}, item {i}", key=key) for i, item in enumerate(items)]


class Source(Protocol):
    """A service, described by what differs: its streams and how it pages (the rest is in sylo/services.py)."""

    service: str
    streams: tuple[str, ...]

    def batches(self, ctx: SyncContext) -> Iterator[Batch]: ...

    def cursor_summary(self, ctx: SyncContext) -> str: ...


def sync_service(source: Source, *, user_id: str, connection: Connection, client: NangoClient,
                 warehouse: Warehouse | GroupWriter, settings: SyncSettings, policy: RetryPolicy,
                 state: dict[str, StreamState] | None = None) -> Outcome:
    """Bring one user's copy of one service up to date; never raises for provider trouble.

    `warehouse` may be a GroupWriter, which shares commits between concurrent syncs; `state`
    is the service's committed stream states, when the caller has read them already.
    """
    state = warehouse.load_state(user_id, source.service) if state is None else state
    outcome = Outcome(user_id, source.service, first=not any(s.last_success_at for s in state.values()),
                      recovered=any(s.last_error or s.blocked_until for s in state.values()))
    blocked = [s.blocked_until for s in state.values() if s.blocked_until]
    if blocked and max(blocked) > datetime.now(timezone.utc):
        outcome.status = "paused"
        outcome.message = f"{source.service} paused until {max(blocked):%Y-%m-%d %H:%M} UTC (daily API limit)"
        return outcome
    ctx = SyncContext(user_id=user_id, service=source.service, connection=connection, client=client,
                      warehouse=warehouse, state=state, settings=settings, policy=policy, outcome=outcome)
    committed = _snapshot(state)
    pending: list[Batch] = []  # at most one: batches absorbed since the last commit
    try:
        for batch in source.batches(ctx):
            if pending:
                pending[0].absorb(batch)
            else:
                pending.append(batch)
            if pending[0].row_count >= settings.flush_rows:
                _commit(ctx, pending.pop(), committed)
        final = _mark_success(ctx, source, pending.pop() if pending else Batch(pages=0))
        outcome.pages += final.pages
        outcome.pending = PendingCommit(ctx.warehouse.submit(user_id, final, ctx.now()), ctx, source)
    except DailyLimitReached as exc:
        _keep_progress(ctx, pending, committed)
        outcome.status, outcome.message = "paused", str(exc)
        _record_failure(ctx, source, str(exc), blocked_until=exc.until)
    except (BadData, RetriesExhausted, NangoError) as exc:
        _keep_progress(ctx, pending, committed)
        outcome.status = "failed"
        outcome.message = _advice(exc)
        outcome.problem = "reauth" if isinstance(exc, CredentialsError) else "data" if isinstance(exc, BadData) \
            else "transient"
        _record_failure(ctx, source, outcome.message)
    outcome.cursor = source.cursor_summary(ctx)
    outcome.seconds = (datetime.now(timezone.utc) - ctx.started).total_seconds()
    return outcome


@dataclass
class PendingCommit:
    """A sync's final batch, handed to the writer. The caller settles it, so the final batches of
    several services and users can share one transaction."""

    future: Future
    ctx: "SyncContext"
    source: "Source"


def settle(outcome: Outcome) -> Outcome:
    """Wait for the sync's final commit; a failed commit fails the sync, with the reason recorded."""
    if outcome.pending is None:
        return outcome
    pending, outcome.pending = outcome.pending, None
    try:
        outcome.add(pending.future.result(), 0)
    except Exception as exc:  # the database refused the write: say so; the cursor stays where it was
        outcome.status = "failed"
        outcome.message = f"could not save the {pending.source.service} sync: {exc}"
        _record_failure(pending.ctx, pending.source, outcome.message)
    return outcome


def _advice(exc: Exception) -> str:
    if isinstance(exc, CredentialsError):
        return f"{exc} (the studio owner must reconnect this service in the dashboard)"
    return str(exc)


def _snapshot(state: dict[str, StreamState]) -> dict[str, str]:
    return {name: repr(stream) for name, stream in state.items()}


def _commit(ctx: SyncContext, batch: Batch, committed: dict[str, str]) -> None:
    """Apply a batch unless it would change nothing at all."""
    changed = [s for s in batch.states if committed.get(s.stream) != repr(s)]
    if not batch.writes_data and not changed:
        ctx.outcome.pages += batch.pages
        return
    ctx.outcome.add(ctx.warehouse.apply(ctx.user_id, batch, ctx.now()), batch.pages)
    committed.update(_snapshot({s.stream: s for s in batch.states}))
    log.debug("user %s: %s batch committed (%d pages so far)", ctx.user_id, ctx.service, ctx.outcome.pages)


def _keep_progress(ctx: SyncContext, pending: list[Batch], committed: dict[str, str]) -> None:
    """A later page failed: the pages already absorbed are sound, with the state that covers them."""
    if pending:
        _commit(ctx, pending.pop(), committed)


def _mark_success(ctx: SyncContext, source: Source, batch: Batch) -> Batch:
    """Stamp every stream's last success into the final batch, so it lands in the same commit."""
    now = ctx.now()
    for name in source.streams:
        stream = ctx.stream(name)
        stream.last_success_at, stream.last_error, stream.blocked_until = now, None, None
    batch.absorb(Batch(states=[ctx.stream(n) for n in source.streams], pages=0))
    return batch


def _record_failure(ctx: SyncContext, source: Source, message: str, blocked_until: datetime | None = None) -> None:
    """Note the failure without touching cursors: reload what was committed, then annotate it."""
    committed = ctx.warehouse.load_state(ctx.user_id, source.service)
    states = [committed.get(name) or StreamState(name) for name in source.streams]
    for stream in states:
        stream.last_error, stream.blocked_until = message[:1000], blocked_until
    ctx.warehouse.save_states(ctx.user_id, states, ctx.now())
    ctx.state = committed
