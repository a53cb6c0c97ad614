"""The outbox: a command and its audit entry are committed before anything is forwarded.

Delivery claims a command by leasing it (`status = delivering`, `lease_until`); the worker keeps
the lease alive while the delivery is in flight, and one that dies mid-delivery leaves a lease
that expires, so another picks the command up again. The claim re-checks the status in the
UPDATE's own WHERE, so two workers never hold the same command, on SQLite (one writer) or
Postgres (row locks re-evaluate the condition). Each outcome is committed with its audit entry and
the delivery's health record, all or nothing; it applies only while the command is still the claim
this delivery made (same status, same attempt), so a late answer never overwrites a result n8n
reported meanwhile.

Accepting, claiming and settling go through the app DB's group commit (`sylo.appdb.writes`):
writes that arrive while a commit is under way share the next one, and each caller returns only
once the commit holding its write is done, so a 202 still means the command is on disk.

Statuses: queued → delivering → delivered (n8n answered), or running (n8n answered 202: the result
comes later through `report_result`) → succeeded | failed; failed also when n8n refuses, when
retries run out, or when a running command's result is overdue. A command the owner's policy
holds starts as awaiting_approval, which no claim takes; the owner's approval makes it queued
(one conditional UPDATE, so a double click or two owners' tabs approve it once), a decline ends
it declined, and no decision within the approval TTL ends it expired.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from sylo.appdb.schema import audit_log, command_results, commands, users
from sylo.appdb.writes import at_commit, group_commit
from sylo.commands import health
from sylo.clock import as_utc as _aware, utc_now as now

PENDING = ("queued", "delivering")
NOT_DONE = ("declined", "expired")  # held, then never sent: they do not count against the daily cap
OPEN = ("queued", "delivering", "running")  # a result n8n reports may still settle these
FINISHED = ("delivered", "succeeded", "failed")
# Built once: executed with a dict of values, SQLAlchemy reuses their compiled form on every call.
_INSERT_COMMAND = insert(commands)
_INSERT_AUDIT = insert(audit_log)
# An outcome applies only while the command is still the claim its delivery made; the columns it sets
# are the keys of the values it is executed with.
_SETTLE = update(commands).where(commands.c.id == bindparam("claimed_id"), commands.c.status == "delivering",
                                 commands.c.attempts == bindparam("claimed_attempts"))
_CLAIMABLE = or_(and_(commands.c.status == "queued", commands.c.next_attempt_at <= bindparam("at")),
                 and_(commands.c.status == "delivering", commands.c.lease_until < bindparam("at")))
_CLAIM_VALUES = dict(status="delivering", lease_until=bindparam("lease_until"), attempts=commands.c.attempts + 1,
                     updated_at=bindparam("at"))
_CLAIM_DUE = (update(commands).where(commands.c.id.in_(
    select(commands.c.id).where(_CLAIMABLE).order_by(commands.c.next_attempt_at).limit(bindparam("limit"))
    .scalar_subquery()), _CLAIMABLE).values(**_CLAIM_VALUES).returning(*commands.c))
_CLAIM_ONE = (update(commands).where(commands.c.id == bindparam("command_id"), _CLAIMABLE)
              .values(**_CLAIM_VALUES).returning(*commands.c))


@dataclass(frozen=True)
class Command:
    id: str
    user_id: str
    message_id: str
    action: str
    params: dict
    source: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    response_status: int | None
    result: Any
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    failure_cause: str | None = None
    failing_since: datetime | None = None
    result_due_at: datetime | None = None
    decided_at: datetime | None = None  # when the owner approved or declined it

    @classmethod
    def from_row(cls, row) -> "Command":
        m = row._mapping
        return cls(m["id"], m["user_id"], m["message_id"], m["action"], json.loads(m["params"]), m["source"],
                   m["status"], m["attempts"], _aware(m["next_attempt_at"]), m["last_error"], m["response_status"],
                   json.loads(m["result"]) if m["result"] is not None else None, _aware(m["created_at"]),
                   _aware(m["updated_at"]), _aware(m["finished_at"]), m["failure_cause"], _aware(m["failing_since"]),
                   _aware(m["result_due_at"]), _aware(m.get("decided_at")))

    def overdue(self, at: datetime) -> bool:
        """Running past the time its result was due."""
        return self.status == "running" and self.result_due_at is not None and self.result_due_at < at


@dataclass(frozen=True)
class AuditEntry:
    id: int
    user_id: str | None
    kind: str
    outcome: str
    command_id: str | None
    action: str | None
    message_id: str | None
    source: str | None
    detail: str | None
    created_at: datetime


class ResultReplayed(Exception):
    """This webhook-id already carried a result."""


class CommandFinished(Exception):
    """The command already has its outcome."""


def new_command_id() -> str:
    return "cmd_" + secrets.token_hex(12)


class Outbox:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.writes = group_commit(engine)  # commands accepted at once share a commit, each waits for it

    # -- taking commands in ------------------------------------------------------------------------

    def accept(self, *, user_id: str, message_id: str, action: str, params: dict, source: str, hold: bool = False,
               cap: "DailyCap | None" = None) -> tuple[Command, bool]:
        """Store a new command with its audit entry; a repeated message id returns the original (True).

        Held for the owner's approval when `hold`. Within `cap` when given: CapReached (nothing
        stored) when it counts `limit` commands already. The count and the insert are one transaction
        and one user at a time: Postgres locks the user's row (FOR NO KEY UPDATE, which foreign-key
        checks do not wait for); SQLite has one writer, taken by the insert, which therefore comes
        before the count. Without a cap, commands accepted at once share their insert statements."""
        at = now()
        status = "awaiting_approval" if hold else "queued"
        values = dict(id=new_command_id(), user_id=user_id, message_id=message_id, action=action,
                      params=json.dumps(params, separators=(",", ":"), default=str), source=source, status=status,
                      attempts=0, next_attempt_at=at, created_at=at, updated_at=at)
        entry = _audit(user_id, "command.accepted", "ok", values["id"], action, message_id, source,
                       "waiting for the owner's approval" if hold else None, at)

        def counted(conn) -> None:
            conn.execute(select(users.c.id).where(users.c.id == user_id).with_for_update(key_share=True))
            conn.execute(_INSERT_COMMAND, values)
            cap.check(conn, user_id, at)  # raises, rolling the insert back (a shared group replays without it)
            conn.execute(_INSERT_AUDIT, entry)

        try:
            self.writes.run(counted if cap is not None else lambda conn: at_commit(conn, _store, (values, entry)))
        except IntegrityError:
            original = self.by_message(user_id, message_id)
            if original is None:
                raise
            self.audit(user_id, "command.replayed", "refused", command_id=original.id, action=original.action,
                       message_id=message_id, source=source, detail="message id already accepted; not forwarded again")
            return original, True
        return Command(values["id"], user_id, message_id, action, json.loads(values["params"]), source, status, 0,
                       at, None, None, None, at, at, None), False

    def audit(self, user_id: str | None, kind: str, outcome: str, *, command_id: str | None = None,
              action: str | None = None, message_id: str | None = None, source: str | None = None,
              detail: str | None = None) -> None:
        entry = _audit(user_id, kind, outcome, command_id, action, message_id, source, detail, now())
        self.writes.run(lambda conn: conn.execute(_INSERT_AUDIT, entry))

    # -- reading -----------------------------------------------------------------------------------

    def get(self, command_id: str, user_id: str | None = None) -> Command | None:
        query = select(commands).where(commands.c.id == command_id)
        if user_id is not None:
            query = query.where(commands.c.user_id == user_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return Command.from_row(row) if row else None

    def by_message(self, user_id: str, message_id: str) -> Command | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(commands).where(commands.c.user_id == user_id,
                                                      commands.c.message_id == message_id)).first()
        return Command.from_row(row) if row else None

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(commands.c.status, func.count()).group_by(commands.c.status))
            return {status: count for status, count in rows}

    def audit_entries(self, user_id: str, *, before_id: int | None = None, limit: int = 50) -> list[AuditEntry]:
        query = select(audit_log).where(audit_log.c.user_id == user_id).order_by(audit_log.c.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(audit_log.c.id < before_id)
        with self.engine.connect() as conn:
            return [AuditEntry(*row[:9], _aware(row[9])) for row in conn.execute(query)]

    def refusals(self, limit: int = 100) -> list[AuditEntry]:
        query = select(audit_log).where(audit_log.c.outcome == "refused").order_by(audit_log.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [AuditEntry(*row[:9], _aware(row[9])) for row in conn.execute(query)]

    # -- delivering --------------------------------------------------------------------------------

    def claim(self, limit: int, lease: timedelta, command_id: str | None = None) -> list[Command]:
        """Lease up to `limit` due commands (or the one named) for delivery."""
        at = now()
        statement, values = (_CLAIM_ONE, {"command_id": command_id}) if command_id else (_CLAIM_DUE, {"limit": limit})
        values.update(at=at, lease_until=at + lease)
        return self.writes.run(lambda conn: [Command.from_row(row) for row in conn.execute(statement, values)])

    def extend_leases(self, command_ids: list[str], lease: timedelta) -> int:
        """Push the leases of deliveries still in flight `lease` into the future; how many were extended."""
        with self.engine.begin() as conn:
            return conn.execute(update(commands).where(commands.c.id.in_(command_ids),
                                                       commands.c.status == "delivering")
                                .values(lease_until=now() + lease)).rowcount

    def delivered(self, command: Command, status_code: int, result: Any) -> bool:
        return self._transition(command, "command.delivered", "ok", "delivered", "ok", status_code,
                                status="delivered", result=_json(result), last_error=None, finished=True)

    def running(self, command: Command, status_code: int, result: Any, due_at: datetime) -> bool:
        """n8n took the command and will report its result later (it answered 202 running)."""
        return self._transition(command, "command.running", "ok", "running", "ok", status_code,
                                status="running", result=_json(result), last_error=None, result_due_at=due_at,
                                detail=f"n8n is working on it; result due by {due_at.isoformat(timespec='seconds')}")

    def failed(self, command: Command, reason: str, status_code: int | None = None, cause: str = "rejected") -> bool:
        return self._transition(command, "command.failed", "failed", "failed", cause, status_code,
                                status="failed", last_error=reason, failure_cause=cause, finished=True, detail=reason)

    def retry_later(self, command: Command, reason: str, at: datetime, status_code: int | None = None,
                    cause: str = "server_error", failing_since: datetime | None = None) -> bool:
        return self._transition(command, "command.retry", "retry", "retry", cause, status_code,
                                status="queued", next_attempt_at=at, last_error=reason, failure_cause=cause,
                                failing_since=failing_since or now(), detail=f"attempt {command.attempts}: {reason}")

    def _transition(self, command: Command, kind: str, outcome: str, delivery: str, cause: str,
                    status_code: int | None, *, finished: bool = False, detail: str | None = None, **values) -> bool:
        """Record one delivery's outcome if the command is still this delivery's claim; True when it was."""
        stamp = now()
        values.update(lease_until=None, response_status=status_code, updated_at=stamp)
        reason = values.get("last_error")
        if finished:
            values["finished_at"] = stamp
        values.update(claimed_id=command.id, claimed_attempts=command.attempts)
        entry = _audit(command.user_id, kind, outcome, command.id, command.action, command.message_id,
                       command.source, detail, stamp)

        def record(conn) -> bool:
            applied = conn.execute(_SETTLE, values).rowcount == 1
            if applied:
                at_commit(conn, _insert_audit, entry)
            health.record(conn, outcome=delivery, cause=cause, status=status_code, reason=reason, at=stamp)
            return applied

        return self.writes.run(record)

    # -- results reported later --------------------------------------------------------------------

    def report_result(self, command: Command, message_id: str, status: str, result: Any,
                      error: str | None) -> Command:
        """Settle an open command with the result n8n reported; each report's webhook-id counts once.

        Raises ResultReplayed or CommandFinished (nothing is written then)."""
        stamp = now()
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(command_results).values(message_id=message_id, command_id=command.id,
                                                            received_at=stamp))
                row = conn.execute(update(commands).where(commands.c.id == command.id, commands.c.status.in_(OPEN))
                                   .values(status=status, result=_json(result), last_error=error, lease_until=None,
                                           result_due_at=None, updated_at=stamp, finished_at=stamp)
                                   .returning(*commands.c)).first()
                if row is None:
                    raise CommandFinished(command.status)
                conn.execute(insert(audit_log).values(**_audit(
                    command.user_id, f"command.{status}", "ok" if status == "succeeded" else "failed", command.id,
                    command.action, command.message_id, command.source, error or "n8n reported the result", stamp)))
        except IntegrityError:
            raise ResultReplayed(message_id) from None
        return Command.from_row(row)

    def expire_running(self, reason: str, command_id: str | None = None) -> list[Command]:
        """Fail every running command (or the one named) whose result is overdue."""
        stamp = now()
        overdue = and_(commands.c.status == "running", commands.c.result_due_at < stamp)
        if command_id is not None:
            overdue = and_(overdue, commands.c.id == command_id)
        return self._end(overdue, "command.failed", "failed", reason, stamp, status="failed", last_error=reason,
                         result_due_at=None)

    def _end(self, where, kind: str, outcome: str, reason: str, stamp: datetime, **values) -> list[Command]:
        """Finish every command `where` selects with `values`, each with an audit entry saying why."""
        with self.engine.begin() as conn:
            ended = [Command.from_row(row) for row in conn.execute(
                update(commands).where(where).values(updated_at=stamp, finished_at=stamp, **values)
                .returning(*commands.c))]
            if ended:
                conn.execute(_INSERT_AUDIT, [_audit(c.user_id, kind, outcome, c.id, c.action, c.message_id, c.source,
                                                    reason, stamp) for c in ended])
        return ended

    def forget_results(self, before: datetime) -> int:
        """Drop result webhook-ids older than any timestamp the signature check still accepts."""
        with self.engine.begin() as conn:
            return conn.execute(delete(command_results).where(command_results.c.received_at < before)).rowcount

    # -- held for the owner's approval ------------------------------------------------------------------

    def awaiting_approval(self, user_id: str) -> list[Command]:
        """The user's commands waiting for a decision, oldest first."""
        query = (select(commands).where(commands.c.user_id == user_id, commands.c.status == "awaiting_approval")
                 .order_by(commands.c.created_at))
        with self.engine.connect() as conn:
            return [Command.from_row(row) for row in conn.execute(query)]

    def approve(self, command_id: str, user_id: str, *, by: str, asked_after: datetime) -> Decision:
        """Queue a held command for delivery, if it is still held and was asked after `asked_after`."""
        return self._decide(command_id, user_id, asked_after, "command.approved", f"approved by {by}",
                            status="queued", next_attempt_at=now())

    def decline(self, command_id: str, user_id: str, *, by: str, asked_after: datetime) -> Decision:
        """End a held command without sending it, if it is still held and was asked after `asked_after`."""
        return self._decide(command_id, user_id, asked_after, "command.declined", f"declined by {by}",
                            status="declined", finished_at=now())

    def _decide(self, command_id: str, user_id: str, asked_after: datetime, kind: str, detail: str,
                **values) -> Decision:
        """One conditional UPDATE: of two decisions at once (a double click, two tabs), exactly one applies."""
        stamp = now()
        held = and_(commands.c.id == command_id, commands.c.user_id == user_id,
                    commands.c.status == "awaiting_approval", commands.c.created_at > asked_after)
        with self.engine.begin() as conn:
            row = conn.execute(update(commands).where(held).values(decided_at=stamp, updated_at=stamp, **values)
                               .returning(*commands.c)).first()
            if row is not None:
                decided = Command.from_row(row)
                conn.execute(insert(audit_log).values(**_audit(user_id, kind, "ok", command_id, decided.action,
                                                               decided.message_id, decided.source, detail, stamp)))
                return Decision(True, decided)
        return Decision(False, self.get(command_id, user_id))

    def expire_approvals(self, asked_before: datetime, reason: str, command_id: str | None = None) -> list[Command]:
        """End every held command asked before `asked_before` (or the one named) as expired; audited."""
        stamp = now()
        stale = and_(commands.c.status == "awaiting_approval", commands.c.created_at <= asked_before)
        if command_id is not None:
            stale = and_(stale, commands.c.id == command_id)
        return self._end(stale, "command.expired", "ok", reason, stamp, status="expired")


@dataclass(frozen=True)
class Decision:
    """What an approval or a decline did: `applied` when it was the one decision; the command as it now stands."""

    applied: bool
    command: Command | None


class CapReached(Exception):
    """The daily cap on external actions is reached; `resets_at` is when the next one fits."""

    def __init__(self, limit: int, resets_at: datetime):
        super().__init__(f"{limit} external actions in a day")
        self.limit, self.resets_at = limit, resets_at


@dataclass(frozen=True)
class DailyCap:
    """At most `limit` commands of `actions` per user in any `window` (a moving day), not counting
    those the owner declined or that expired: they never left the studio."""

    limit: int
    actions: tuple[str, ...]
    window: timedelta = timedelta(days=1)

    def counted(self, user_id: str, since: datetime):
        return and_(commands.c.user_id == user_id, commands.c.action.in_(self.actions),
                    commands.c.created_at > since, commands.c.status.not_in(NOT_DONE))

    def check(self, conn, user_id: str, at: datetime) -> None:
        """Raise CapReached when, with the command just inserted, the user is over the limit."""
        since = at - self.window
        used = conn.execute(select(func.count()).select_from(commands).where(self.counted(user_id, since))).scalar()
        if used > self.limit:
            oldest = conn.execute(select(func.min(commands.c.created_at)).where(self.counted(user_id, since))).scalar()
            raise CapReached(self.limit, _aware(oldest) + self.window)

    def used(self, engine: Engine, user_id: str) -> int:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(commands)
                                .where(self.counted(user_id, now() - self.window))).scalar()


def _store(conn, accepted: list[tuple[dict, dict]]) -> None:
    """The commands accepted in one transaction and their audit entries: one statement for each table."""
    conn.execute(_INSERT_COMMAND, [command for command, _ in accepted])
    conn.execute(_INSERT_AUDIT, [entry for _, entry in accepted])


def _insert_audit(conn, entries: list[dict]) -> None:
    """The audit entries of the outcomes settled in one transaction, in one statement."""
    conn.execute(_INSERT_AUDIT, entries)


def _json(value: Any) -> str | None:
    return json.dumps(value, default=str) if value is not None else None


def _audit(user_id, kind, outcome, command_id, action, message_id, source, detail, at) -> dict:
    return dict(user_id=user_id, kind=kind, outcome=outcome, command_id=command_id, action=action,
                message_id=message_id, source=source, detail=detail, created_at=at)


