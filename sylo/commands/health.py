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
from datetime import datetime, timezone
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, case, select
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
    for (outcome, cause), count in Counter((a.outcome, a.cause) for a in attempts).items():
        _upsert(conn, delivery_counts, dict(outcome=outcome, cause=cause, count=count), ["outcome", "cause"],
                {"count": delivery_counts.c.count + count})
    last = attempts[-1]
    run = next((n for n, a in enumerate(reversed(attempts)) if a.cause != last.cause), len(attempts))
    began = attempts[-run].at  # the first attempt of the run this group ends with
    ok = last.cause == "ok"
    since, failures = began, 0 if ok else run
    if run == len(attempts):  # the stored run may go on
        same = delivery_health.c.cause == last.cause
        since = case((same, delivery_health.c.since), else_=began)
        failures = 0 if ok else case((same, delivery_health.c.failures + run), else_=run)
    last_ok_at = max((a.at for a in attempts if a.cause == "ok"), default=None)
    _upsert(conn, delivery_health,
            dict(target=TARGET, cause=last.cause, since=began, failures=0 if ok else run, last_status=last.status,
                 last_reason=last.reason, last_ok_at=last_ok_at, updated_at=last.at),
            ["target"],
            {"cause": last.cause, "since": since, "failures": failures,
             "last_status": last.status, "last_reason": last.reason, "updated_at": last.at,
             "last_ok_at": last_ok_at if last_ok_at else delivery_health.c.last_ok_at})


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


def _upsert(conn: Connection, table, values: dict, keys: list[str], updates: dict) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=updates))


def _clock(at: datetime) -> str:
    """10:42 UTC today, or with the date before today."""
    at = at.astimezone(timezone.utc)
    today = datetime.now(timezone.utc).date()
    return at.strftime("%H:%M UTC" if at.date() == today else "%Y-%m-%d %H:%M UTC")


def _default_path(settings) -> str:
    return urlsplit(settings.n8n_url or "").path.rstrip("/") + DEFAULT_PATH


