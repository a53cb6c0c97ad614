"""Activity: one row per command agents sent or tried, in plain words, and n8n's health.

A row says what the agent asked for ("add the task *Send drawings* to *Marlow — School
library*") and where it stands (delivered, failed, waiting for approval...). The names come from
the command's params and the owner's own documents (a project's name for its gid); params and
names are text from outside, printed escaped and never as links. Ids, params and every step
of a command sit behind its detail page; a refusal explains itself in its row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from flask import Response, abort, g, render_template, request, url_for
from sqlalchemy import select

from api import sessions
from api.dashboard.blueprint import bp, sylo as _sylo
from api.dashboard.context_page import read_json
from sylo.appdb.schema import audit_log
from sylo.clock import as_utc
from sylo.commands import health as delivery_health
from sylo.commands.outbox import AuditEntry, Command

PAGE_SIZE = 25
SCAN = 200  # audit entries read at a time while collecting a page of rows

# A command's status: (what the owner reads, tone). Statuses not listed here are shown as words.
STATUSES = {
    "queued": ("waiting to be sent", "neutral"), "delivering": ("being sent", "neutral"),
    "delivered": ("delivered", "ok"), "running": ("running", "neutral"), "succeeded": ("done", "ok"),
    "failed": ("failed", "bad"), "awaiting_approval": ("waiting for your approval", "warn"),
    "approved": ("approved", "neutral"), "declined": ("declined", "neutral"), "expired": ("expired", "neutral"),
}
# Why a delivery failed (`failure_cause`), for the owner.
FAILURES = {
    "rejected": "Your n8n workflow turned it down.",
    "timeout": "n8n did not answer in time, and Sylo gave up.",
}
NOT_DELIVERED = "Sylo could not get it to n8n, where your workflows run, before giving up."
# Sylo's reasons for refusing a command (the audit entry's detail), by how they begin.
REFUSALS = (
    ("rate limit unavailable", "Sylo could not check how many commands your agents had sent, so it refused to be "
                               "safe. Nothing was done; the agent can simply try again."),
    ("rate limit", "Your agents sent more commands in one minute than Sylo allows. Nothing was done; the agent can "
                   "try again in a minute."),
    ("action not allowed", "You set this to Never on the Permissions page, so Sylo refused it and nothing was "
                           "done."),
    ("daily limit", "Your agents had already done as many things that reach outside the studio as Sylo allows in "
                    "a day, so nothing was done. The agent can try again once the day's count goes down."),
    ("invalid params", "Some of what it asked for was missing or not valid, so nothing was done."),
    ("unknown action", "Sylo has no action by that name, so nothing was done."),
    ("malformed body", "The request was not a command Sylo understands, so nothing was done."),
)
SOURCES = {"http": "a signed command (the API)", "mcp": "an MCP tool call"}
# Requests the owner's permissions held back, and how they ended.
HELD = {"awaiting_approval": "Nothing is done until you approve it on the Permissions page.",
        "declined": "You declined it, so it was not done.",
        "expired": "Nobody approved it in time, so it was not done."}


@dataclass
class Row:
    """One line of the Activity page."""

    at: datetime
    sentence: list[tuple[str, str]]  # ("text", Sylo's words) or ("name", text from outside)
    status: str
    tone: str
    explanation: str | None = None
    href: str | None = None  # the command's detail page
    facts: list[tuple[str, str]] = field(default_factory=list)  # shown in the row's fold when there is no page


@bp.get("/activity")
@sessions.signed_in
def activity() -> Response:
    """One row per command, newest first, paged."""
    before = request.args.get("before", type=int)
    entries, older = page_of_entries(g.user_id, before)
    names = Names(g.user_id)
    return render_template("dashboard/activity.html", rows=[row(entry, names) for entry in entries],
                           n8n_problem=n8n_problem(),
                           older=url_for("dashboard.activity", before=older) if older else None)


@bp.get("/activity/<command_id>")
@sessions.signed_in
def command_detail(command_id: str) -> Response:
    """One command: what it asked, where it stands, its ids, params, result and every step."""
    command = _sylo().commands.outbox.get(command_id, g.user_id)
    if command is None:
        abort(404, description="There is no such command among yours.")
    steps = command_entries(g.user_id, command_id)
    accepted = next((e for e in steps if e.kind == "command.accepted"), None)
    shown = row(accepted, Names(g.user_id), command) if accepted else None
    return render_template("dashboard/command.html", command=command, row=shown, steps=steps,
                           source=SOURCES.get(command.source, command.source), params=_pretty(command.params),
                           result=_pretty(command.result) if command.result is not None else None)


def page_of_entries(user_id: str, before: int | None) -> tuple[list[AuditEntry], int | None]:
    """The audit entries that start a row (a command, a repeat, a refusal), and where the next page starts."""
    outbox = _sylo().commands.outbox
    found, cursor = [], before
    while len(found) <= PAGE_SIZE:
        batch = outbox.audit_entries(user_id, before_id=cursor, limit=SCAN)
        found += [entry for entry in batch if starts_row(entry)]
        if len(batch) < SCAN:
            break
        cursor = batch[-1].id
    page = found[:PAGE_SIZE]
    return page, page[-1].id if len(found) > PAGE_SIZE else None


# Apps signed in with OAuth (Agent setup lists them): what each audit entry means for the owner.
# A refresh is the app keeping its access, which it does hourly: audited, but not news.
APPS = {
    "oauth.granted": ("You let an app use Sylo", "connected", "ok", None),
    "oauth.revoked": ("An app's access to Sylo ended", "removed", "neutral", None),
}
STOLEN = ("One of the app's sign-in tokens was used twice, which happens when someone else holds a copy, so Sylo "
          "ended its access. If the app is yours, connect it again from the app.")
QUIET = {"oauth.refreshed"}


def starts_row(entry: AuditEntry) -> bool:
    """A command's own steps (delivered, retried, failed...) belong to the row of its acceptance."""
    if entry.kind in QUIET:
        return False
    return entry.command_id is None or entry.kind in ("command.accepted", "command.replayed")


def command_entries(user_id: str, command_id: str) -> list[AuditEntry]:
    """Every audit entry of one command, oldest first."""
    query = (select(audit_log).where(audit_log.c.user_id == user_id, audit_log.c.command_id == command_id)
             .order_by(audit_log.c.id))
    with _sylo().appdb.engine.connect() as conn:
        return [AuditEntry(*r[:9], as_utc(r[9])) for r in conn.execute(query)]


def row(entry: AuditEntry, names: "Names", command: Command | None = None) -> Row:
    """The row for an entry that starts one."""
    if entry.kind == "command.accepted":
        command = command or _sylo().commands.outbox.get(entry.command_id, entry.user_id)
        if command is not None:
            return _command_row(entry, command, names)
    if entry.kind == "command.replayed":
        return Row(entry.created_at, [("text", "Your agent repeated its request to "), *intent(entry.action)],
                   "not repeated", "neutral", "Sylo had already accepted it, so it was not carried out a second time.",
                   href=url_for("dashboard.command_detail", command_id=entry.command_id) if entry.command_id else None)
    if entry.kind == "policy.changed":
        before, _, after = (entry.detail or "").partition(" → ")
        return Row(entry.created_at, [("text", "You changed what your agents may do: "), *intent(entry.action),
                                      ("text", f" is now “{after or entry.detail}”")], "changed", "neutral",
                   f"It was “{before}”." if after else None,
                   facts=[("Changed on", "the dashboard" if entry.source == "dashboard" else "the command line")])
    if entry.kind == "connection.refused":
        return Row(entry.created_at, [("text", "Nango reported one of your connections as someone else's")],
                   "refused", "warn", "Sylo kept the connection yours; nothing changed.",
                   facts=[("What Sylo noted", entry.detail or "")])
    if entry.kind in APPS:
        sentence, status, tone, explanation = APPS[entry.kind]
        if entry.outcome == "refused":
            status, tone, explanation = "ended by Sylo", "bad", STOLEN
        return Row(entry.created_at, [("text", sentence)], status, tone, explanation,
                   facts=[("What Sylo noted", entry.detail or "")])
    if entry.outcome == "refused":
        return _refusal_row(entry)
    return Row(entry.created_at, [("text", entry.kind.replace(".", " ").replace("_", " "))], entry.outcome, "neutral",
               facts=[("What Sylo noted", entry.detail or "")])


def _command_row(entry: AuditEntry, command: Command, names: "Names") -> Row:
    status, tone = STATUSES.get(command.status, (command.status.replace("_", " "), "neutral"))
    explanation = None
    if command.status == "failed":
        explanation = FAILURES.get(command.failure_cause or "", NOT_DELIVERED if command.failure_cause else
                                   "The workflow reported that it did not succeed.")
    elif command.status == "queued" and command.attempts:
        status, explanation = "waiting to be sent again", "n8n did not take it yet; Sylo keeps trying."
    elif command.status in HELD:
        explanation = HELD[command.status]
    elif command.decided_at:
        explanation = f"You approved it on {command.decided_at:%d %b at %H:%M} UTC."
    return Row(entry.created_at, [("text", "Your agent asked to "), *describe(command.action, command.params, names)],
               status, tone, explanation, href=url_for("dashboard.command_detail", command_id=command.id))


def _refusal_row(entry: AuditEntry) -> Row:
    detail = entry.detail or ""
    explanation = next((words for start, words in REFUSALS if detail.startswith(start)), None)
    facts = [("Sent through", SOURCES.get(entry.source or "", entry.source or "unknown")),
             ("Message id", entry.message_id or "none"), ("What Sylo noted", detail)]
    if entry.action:
        facts.insert(0, ("Action", entry.action))
    return Row(entry.created_at, [("text", "Your agent tried to "), *intent(entry.action)], "refused", "bad",
               explanation or "Sylo refused it, so nothing was done.", facts=facts)


# -- what an action asked for, in words ---------------------------------------------------------


class Names:
    """Names of the owner's projects, tasks, threads and invoices by id, from their documents."""

    def __init__(self, user_id: str):
        self.user_id = user_id
        self._found: dict[str, dict[str, str]] | None = None

    def get(self, kind: str, key: object) -> str | None:
        if self._found is None:
            self._found = self._read()
        return self._found[kind].get(str(key)) if key is not None else None

    def _read(self) -> dict[str, dict[str, str]]:
        projects, tasks = read_json(self.user_id, "projects"), read_json(self.user_id, "tasks")
        mail, money = read_json(self.user_id, "communications"), read_json(self.user_id, "financials")
        return {
            "project": {p["id"]: p["name"] for p in projects.get("projects") or [] if p.get("id")},
            "task": {t["id"]: t["name"] for part in ("overdue", "due_soon", "recently_completed")
                     for t in tasks.get(part) or [] if t.get("id")},
            "thread": {t["id"]: t["subject"] for t in mail.get("threads") or [] if t.get("id")},
            "invoice": {i["id"]: i["invoice_number"] for part in ("overdue_invoices", "due_in_30_days", "bills_due")
                        for i in money.get(part) or [] if i.get("id") and i.get("invoice_number")},
        }


def describe(action: str, params: dict, names: Names) -> list[tuple[str, str]]:
    """What a command asked for: Sylo's words, with names from outside as ("name", text)."""
    p = params or {}

    def named(kind: str, key: object, otherwise: str) -> list[tuple[str, str]]:
        found = names.get(kind, key)
        return [("text", f"the {kind} "), ("name", found)] if found else [("text", otherwise)]

    phrases = {
        "asana.create_task": lambda: [("text", "add the task "), ("name", str(p.get("name", ""))), ("text", " to "),
                                      *named("project", p.get("project_gid"), "a project in Asana")],
        "asana.complete_task": lambda: [("text", "mark "), *named("task", p.get("task_gid"), "a task in Asana"),
                                        ("text", " as done")],
        "asana.comment": lambda: [("text", "comment on "), *named("task", p.get("task_gid"), "a task in Asana")],
        "gmail.draft_reply": lambda: [("text", "draft a reply in "), *named("thread", p.get("thread_id"),
                                                                             "a thread in Gmail")],
        "gmail.send_email": lambda: [("text", "send the email "), ("name", str(p.get("subject", ""))),
                                     ("text", " to "), ("name", ", ".join(map(str, p.get("to") or [])))],
        "xero.create_draft_invoice": lambda: [("text", "draft an invoice in Xero")]
        + ([("text", " with the reference "), ("name", str(p["reference"]))] if p.get("reference") else []),
        "xero.send_invoice_reminder": lambda: [("text", "send a reminder for "),
                                               *named("invoice", p.get("invoice_id"), "an invoice in Xero")],
        "veo.generate_video": lambda: [("text", "generate a video of "), ("name", str(p.get("prompt", "")))],
        "meta.publish_post": lambda: [("text", f"publish a post on {str(p.get('platform', 'social media')).title()}: "),
                                      ("name", str(p.get("caption", "")))],
    }
    phrase = phrases.get(action)
    return phrase() if phrase else intent(action)


def intent(action: str | None) -> list[tuple[str, str]]:
    """What an action does, without its params (a refusal keeps none)."""
    words = {"asana.create_task": "add a task in Asana", "asana.complete_task": "mark a task in Asana as done",
             "asana.comment": "comment on a task in Asana", "gmail.draft_reply": "draft a reply in Gmail",
             "gmail.send_email": "send an email", "xero.create_draft_invoice": "draft an invoice in Xero",
             "xero.send_invoice_reminder": "send an invoice reminder from Xero",
             "veo.generate_video": "generate a video", "meta.publish_post": "publish a social media post"}
    if action in words:
        return [("text", words[action])]
    return [("text", "run "), ("name", action)] if action else [("text", "send a command")]


def n8n_problem() -> str | None:
    """What is wrong with n8n, in the operator's words, while deliveries keep failing the same way."""
    current = delivery_health.current(_sylo().appdb.engine)
    return current.sentence(_sylo().settings) if current is not None and current.failing else None


def _pretty(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)
