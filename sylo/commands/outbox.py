"""The outbox: a command and its audit entry are committed before anything is forwarded.

Delivery claims a command by leasing it (`status = delivering`, `lease_until`); a worker that
dies mid-delivery leaves a lease that expires, and another picks the command up again. The claim
re-checks the status in the UPDATE's own WHERE, so two workers never hold the same command, on
SQLite (one writer) or Postgres (row locks re-evaluate the condition). Each outcome is one
transaction: the command's new state and its audit entry together.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from sylo.appdb.schema import audit_log, commands

PENDING = ("queued", "delivering")


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

    @classmethod
    def from_row(cls, row) -> "Command":
        m = row._mapping
        return cls(m["id"], m["user_id"], m["message_id"], m["action"], json.loads(m["params"]), m["source"],
                   m["status"], m["attempts"], _aware(m["next_attempt_at"]), m["last_error"], m["response_status"],
                   json.loads(m["result"]) if m["result"] is not None else None, _aware(m["created_at"]),
                   _aware(m["updated_at"]), _aware(m["finished_at"]))


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


def now() -> datetime:
    return datetime.now(timezone.utc)


def new_command_id() -> str:
    return "cmd_" + secrets.token_hex(12)


class Outbox:
    def __init__(self, engine: Engine):
        self.engine = engine

    def accept(self, *, user_id: str, message_id: str, action: str, params: dict, source: str) -> tuple[Command, bool]:
        """Store a new command with its audit entry; a repeated message id returns the original (True)."""
        at = now()
        values = dict(id=new_command_id(), user_id=user_id, message_id=message_id, action=action,
                      params=json.dumps(params, separators=(",", ":"), default=str), source=source, status="queued",
                      attempts=0, next_attempt_at=at, created_at=at, updated_at=at)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(commands).values(**values))
                conn.execute(insert(audit_log).values(**_audit(user_id, "command.accepted", "ok", values["id"], action,
                                                               message_id, source, None, at)))
        except IntegrityError:
            original = self.by_message(user_id, message_id)
            if original is None:
                raise
            self.audit(user_id, "command.replayed", "refused", command_id=original.id, action=original.action,
                       message_id=message_id, source=source, detail="message id already accepted; not forwarded again")
            return original, True
        return Command(values["id"], user_id, message_id, action, json.loads(values["params"]), source, "queued", 0,
                       at, None, None, None, at, at, None), False

    def audit(self, user_id: str | None, kind: str, outcome: str, *, command_id: str | None = None,
              action: str | None = None, message_id: str | None = None, source: str | None = None,
              detail: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(audit_log).values(**_audit(user_id, kind, outcome, command_id, action, message_id,
                                                           source, detail, now())))

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

    def claim(self, limit: int, lease: timedelta, command_id: str | None = None) -> list[Command]:
        """Lease up to `limit` due commands (or the one named) for delivery."""
        at = now()
        claimable = or_(and_(commands.c.status == "queued", commands.c.next_attempt_at <= at),
                        and_(commands.c.status == "delivering", commands.c.lease_until < at))
        due = select(commands.c.id).where(claimable)
        due = due.where(commands.c.id == command_id) if command_id else \
            due.order_by(commands.c.next_attempt_at).limit(limit)
        statement = (update(commands).where(commands.c.id.in_(due.scalar_subquery()), claimable)
                     .values(status="delivering", lease_until=at + lease, attempts=commands.c.attempts + 1,
                             updated_at=at)
                     .returning(*commands.c))
        with self.engine.begin() as conn:
            return [Command.from_row(row) for row in conn.execute(statement)]

    def delivered(self, command: Command, status_code: int, result: Any) -> None:
        self._finish(command, "delivered", "command.delivered", "ok", status_code, result=result)

    def failed(self, command: Command, reason: str, status_code: int | None = None) -> None:
        self._finish(command, "failed", "command.failed", "failed", status_code, error=reason)

    def retry_later(self, command: Command, reason: str, at: datetime, status_code: int | None = None) -> None:
        stamp = now()
        with self.engine.begin() as conn:
            conn.execute(update(commands).where(commands.c.id == command.id, commands.c.status == "delivering")
                         .values(status="queued", next_attempt_at=at, lease_until=None, last_error=reason,
                                 response_status=status_code, updated_at=stamp))
            conn.execute(insert(audit_log).values(**_audit(command.user_id, "command.retry", "retry", command.id,
                                                           command.action, command.message_id, command.source,
                                                           f"attempt {command.attempts}: {reason}", stamp)))

    def _finish(self, command: Command, status: str, kind: str, outcome: str, status_code: int | None, *,
                result: Any = None, error: str | None = None) -> None:
        stamp = now()
        with self.engine.begin() as conn:
            conn.execute(update(commands).where(commands.c.id == command.id, commands.c.status == "delivering")
                         .values(status=status, lease_until=None, response_status=status_code, last_error=error,
                                 result=json.dumps(result, default=str) if result is not None else None,
                                 updated_at=stamp, finished_at=stamp))
            conn.execute(insert(audit_log).values(**_audit(command.user_id, kind, outcome, command.id, command.action,
                                                           command.message_id, command.source, error, stamp)))

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


def _audit(user_id, kind, outcome, command_id, action, message_id, source, detail, at) -> dict:
    return dict(user_id=user_id, kind=kind, outcome=outcome, command_id=command_id, action=action,
                message_id=message_id, source=source, detail=detail, created_at=at)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every timestamp here is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)
