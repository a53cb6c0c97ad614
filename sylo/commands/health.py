"""Delivery health: what n8n's recent answers say about it, for /healthz, the Activity page and /metrics.

Every delivery attempt records its outcome (delivered, running, retry, failed) and its cause: `ok`,
or why it failed (see `CAUSES`). The counts feed a Prometheus counter; the current run of answers
of one cause, and when it began, feeds the `n8n` health check and the dashboard's notice in plain
words. Both live in the app DB, in the same transaction as the command's outcome, so the API shows
what every worker process saw.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cache
from datetime import datetime, timezone
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, Integer, bindparam, case, func, select
from sqlalchemy.dialects import postgresql, sqlite

from sylo.appdb.schema import delivery_counts, delivery_health
from sylo.appdb.writes import at_commit
from sylo.commands.catalog import DEFAULT_PATH
from sylo.clock import as_utc as _aware

TARGET = "n8n"
REPEATED = 3  # failures of one cause in a row before n8n is reported failing: one is a blip

# Why an attempt failed, and what the owner should do about it ({since} and the settings are filled in).
CAUSES = {
    "starting": "n8n has been starting since {since} — if this lasts, check that SYLO_N8N_URL points at n8n",
    "not_registered": "n8n has no active workflow at {path} since {since} — activate (n8n 1.x) or publish "
                      "(n8n 2.x) the Sylo commands workflow",
    "auth": "n8n rejects Sylo's credential since {since} — check the Header Auth credential: header {header} "
            "with the value of SYLO_N8N_AUTH_VALUE",
    "no_credential": "n8n has no credential attached to the Sylo webhook since {since} — attach the Header Auth "
                     "credential to the workflow's Webhook node",
    "not_configured": "Sylo has nowhere to send commands since {since} — set SYLO_N8N_URL to n8n's base URL",
    "unreachable": "n8n cannot be reached at {url} since {since} — is it running, and is SYLO_N8N_URL right?",
    "timeout": "n8n has not answered in time since {since} — it may be overloaded, or a workflow slower than "
               "SYLO_N8N_TIMEOUT_SECONDS",
    "server_error": "n8n's workflow fails since {since} — look at its failed executions in n8n",
    "rate_limited": "n8n answers 429 Too Many Requests since {since}",
    "error": "delivering to n8n fails inside Sylo since {since} — see the worker's log",
}
HEALTHY = ("ok", "rejected")  # a working n8n answered (a rejection is about the command, not about n8n)


@dataclass(frozen=True)
class Health:
    cause: str
    since: datetime
    failures: int
    last_status: int | None
    last_reason: str | None
    last_ok_at: datetime | None
    updated_at: datetime

    @property
    def failing(self) -> bool:
        return self.cause != "ok" and self.failures >= REPEATED

    def sentence(self, settings) -> str:
        """What is wrong and what to do, for a person; with n8n's last answer."""
        template = CAUSES.get(self.cause, "n8n fails since {since}")
        words = template.format(since=_clock(self.since), url=settings.n8n_url, header=settings.n8n_auth_header,
                                path=_default_path(settings))
        return f"{words}. Last answer: {self.last_reason}" if self.last_reason else words + "."

    def check(self, settings) -> dict:
        """The `n8n` entry of /healthz."""
        body = {"status": "failing" if self.failing else "ok", "cause": self.cause,
                "since": self.since.isoformat(timespec="seconds"), "failures": self.failures,
                "last_delivered_at": self.last_ok_at.isoformat(timespec="seconds") if self.last_ok_at else None}
        if self.failing:
            body["error"] = self.sentence(settings)
        return body


@dataclass(frozen=True)
class Attempt:
    outcome: str
    cause: str
    status: int | None
    reason: str | None
    at: datetime


def record(conn: Connection, *, outcome: str, cause: str, status: int | None, reason: str | None,
           at: datetime) -> None:
    """Count one delivery attempt and extend (or restart) the current run of answers, in `conn`'s
    transaction; the attempts of one group commit are written together, as if one by one."""
    at_commit(conn, _write, Attempt(outcome, "ok" if cause in HEALTHY else cause, status, reason, at))


def _write(conn: Connection, attempts: list[Attempt]) -> None:
    """The counts and the run after `attempts`, in order: one statement per outcome and cause, one for the run."""
    count, run_goes_on, run_restarts = _statements(conn.dialect.name)
    # In a fixed order: on Postgres, two workers' groups then lock these rows in the same order (no deadlock).
    for (outcome, cause), n in sorted(Counter((a.outcome, a.cause) for a in attempts).items()):
        conn.execute(count, {"outcome": outcome, "cause": cause, "n": n})
    last = attempts[-1]
    run = next((n for n, a in enumerate(reversed(attempts)) if a.cause != last.cause), len(attempts))
    ok = last.cause == "ok"
    conn.execute(run_goes_on if run == len(attempts) else run_restarts, {
        "cause": last.cause, "began": attempts[-run].at, "failures": 0 if ok else run, "status": last.status,
        "reason": last.reason, "at": last.at,
        "ok_at": max((a.at for a in attempts if a.cause == "ok"), default=None)})


@cache
def _statements(dialect_name: str) -> tuple:
    """The upserts `_write` runs, built once per dialect: the count, and the run when it may go on or restarts."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    n = bindparam("n", type_=Integer)
    count = (dialect.insert(delivery_counts).values(outcome=bindparam("outcome"), cause=bindparam("cause"), count=n)
             .on_conflict_do_update(index_elements=["outcome", "cause"], set_={"count": delivery_counts.c.count + n}))
    failures, began = bindparam("failures", type_=Integer), bindparam("began", type_=delivery_health.c.since.type)
    ok_at = bindparam("ok_at", type_=delivery_health.c.last_ok_at.type)
    row = dict(target=TARGET, cause=bindparam("cause"), since=began, failures=failures,
               last_status=bindparam("status", type_=Integer), last_reason=bindparam("reason"), last_ok_at=ok_at,
               updated_at=bindparam("at", type_=delivery_health.c.updated_at.type))
    same = delivery_health.c.cause == bindparam("cause")
    upsert = dialect.insert(delivery_health).values(**row)
    restarts = {**{k: upsert.excluded[k] for k in row if k != "target"},
                "last_ok_at": func.coalesce(upsert.excluded.last_ok_at, delivery_health.c.last_ok_at)}
    goes_on = {**restarts, "since": case((same, delivery_health.c.since), else_=upsert.excluded.since),
               "failures": case((same, delivery_health.c.failures + upsert.excluded.failures),
                                else_=upsert.excluded.failures)}
    return (count, upsert.on_conflict_do_update(index_elements=["target"], set_=goes_on),
            upsert.on_conflict_do_update(index_elements=["target"], set_=restarts))


def current(engine: Engine) -> Health | None:
    """The current run of n8n's answers, or None before the first delivery."""
    with engine.connect() as conn:
        row = conn.execute(select(delivery_health).where(delivery_health.c.target == TARGET)).first()
    if row is None:
        return None
    m = row._mapping
    return Health(m["cause"], _aware(m["since"]), m["failures"], m["last_status"], m["last_reason"],
                  _aware(m["last_ok_at"]), _aware(m["updated_at"]))


def counts(engine: Engine) -> list[tuple[str, str, int]]:
    """(outcome, cause, attempts) since the app DB was created."""
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(
            select(delivery_counts.c.outcome, delivery_counts.c.cause, delivery_counts.c.count)
            .order_by(delivery_counts.c.outcome, delivery_counts.c.cause))]


def _clock(at: datetime) -> str:
    """10:42 UTC today, or with the date before today."""
    at = at.astimezone(timezone.utc)
    today = datetime.now(timezone.utc).date()
    return at.strftime("%H:%M UTC" if at.date() == today else "%Y-%m-%d %H:%M UTC")


def _default_path(settings) -> str:
    return urlsplit(settings.n8n_url or "").path.rstrip("/") + DEFAULT_PATH


