"""Permissions: what the owner lets agents do per action, and the requests waiting for their approval.

Each action has three choices: Allow (done at once), Ask me first (held here until the owner
approves or declines it) and Never (refused). A request waiting for approval shows what the agent
wants to do in plain words and every parameter it sent (recipients, subject, the whole body):
text from the agent, printed escaped, never as markup or links. Every form is post-redirect-get
with a message that says what happened, so reloading repeats nothing; approving twice (a double
click, two tabs) sends the request once, because only one decision can apply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from flask import Response, abort, flash, g, redirect, render_template, request, url_for

from api import sessions
from api.dashboard import activity as activity_page
from api.dashboard.blueprint import bp, sylo as _sylo
from sylo.commands.catalog import CATALOG
from sylo.commands.outbox import Command
from sylo.commands.policy import DEFAULTS, SETTINGS, WORDS

# What each setting means, under its choice.
MEANINGS = {"allow": "Your agents do it at once.", "ask": "It waits here until you approve it.",
            "deny": "Your agents are refused, and do not even see it."}
LONG_TEXT = 80  # a parameter longer than this (or with a line break) is shown as a block


@dataclass(frozen=True)
class Approval:
    """A request held for the owner: what it asks, in words and in full."""

    command: Command
    sentence: list[tuple[str, str]]
    params: list[tuple[str, str, bool]]  # (label, value as text, shown as a block)
    expires_at: datetime


@bp.get("/permissions")
@sessions.signed_in
def permissions() -> Response:
    """Requests waiting for approval, then each action with its three choices."""
    service = _sylo().commands
    names = activity_page.Names(g.user_id)
    approvals = [approval(command, names) for command in service.awaiting_approval(g.user_id)]
    rows = [{"action": choice.action, "words": _words(choice.action), "description": CATALOG[choice.action].description,
             "outside": CATALOG[choice.action].reaches_outside, "setting": choice.setting,
             "default": DEFAULTS[choice.action]} for choice in service.policies.choices(g.user_id)]
    return render_template("dashboard/permissions.html", approvals=approvals, rows=rows, settings=SETTINGS,
                           words=WORDS, meanings=MEANINGS, per_day=service.cap.limit,
                           used=service.cap.used(service.outbox.engine, g.user_id),
                           ttl_hours=_sylo().settings.approval_ttl_hours)


@bp.post("/permissions")
@sessions.signed_in
def save_permissions() -> Response:
    """Store the choices that changed; say which."""
    policies = _sylo().commands.policies
    current = {choice.action: choice.setting for choice in policies.choices(g.user_id)}
    changed = []
    for action in CATALOG:
        wanted = request.form.get(f"policy-{action}")
        if wanted in SETTINGS and wanted != current[action]:
            policies.set(g.user_id, action, wanted, by="dashboard")
            changed.append(f"{_words(action)}: {WORDS[wanted]}")
    flash("Saved. " + "; ".join(changed) + "." if changed else "Nothing changed.")
    return redirect(url_for("dashboard.permissions") + "#actions", code=303)


@bp.post("/permissions/approvals/<command_id>/<decision>")
@sessions.signed_in
def decide(command_id: str, decision: str) -> Response:
    """Approve (sent once, now) or decline (never sent) a held request."""
    if decision not in ("approve", "decline"):
        abort(404)
    service = _sylo().commands
    decide_by = service.approve if decision == "approve" else service.decline
    outcome = decide_by(command_id[:40], g.user_id, by=f"{g.user_id} on the dashboard")
    if outcome.command is None:
        abort(404, description="There is no such request among yours.")
    flash(_outcome_message(decision, outcome.applied, outcome.command),
          "message" if outcome.applied else "error")
    if request.form.get("back") == "detail":
        return redirect(url_for("dashboard.command_detail", command_id=outcome.command.id), code=303)
    return redirect(url_for("dashboard.permissions") + "#approvals", code=303)


def approval(command: Command, names: activity_page.Names) -> Approval:
    ttl = _sylo().commands.approval_ttl
    return Approval(command, activity_page.describe(command.action, command.params, names),
                    [_param(key, value) for key, value in command.params.items()], command.created_at + ttl)


def waiting_count(user_id: str) -> int:
    """How many requests wait for the owner's approval (Home shows it)."""
    return len(_sylo().commands.awaiting_approval(user_id))


def _param(key: str, value: object) -> tuple[str, str, bool]:
    if isinstance(value, list) and all(isinstance(item, (str, int, float)) for item in value):
        text = ", ".join(map(str, value))
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, indent=2, ensure_ascii=False)
    else:
        text = str(value)
    return key.replace("_", " ").capitalize(), text or "none", len(text) > LONG_TEXT or "\n" in text


def _words(action: str) -> str:
    """What an action does, as the owner says it ("send an email"), capitalised."""
    words = "".join(text for _kind, text in activity_page.intent(action))
    return words[:1].upper() + words[1:]


def _outcome_message(decision: str, applied: bool, command: Command) -> str:
    what = _words(command.action).lower()
    if applied:
        return (f"Approved: Sylo is sending it now ({what})." if decision == "approve"
                else f"Declined: it will not be done ({what}).")
    already = {"declined": "it was declined", "expired": "it expired before anyone decided",
               "awaiting_approval": "it is still waiting"}.get(command.status, "it was already approved")
    return f"Nothing changed: {already}."
