"""The sandbox's world: one studio per end user, a virtual clock, and the ground truth.

A user's data is keyed by end-user id, not by connection: disconnecting and reconnecting Gmail
finds the same mailbox, as it would with the same Google account. Users are generated lazily,
from (seed, user id, the world's start time, scale) alone.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sandbox.generate import (
    Ids,
    _MailContext,
    build_mailbox,
    build_organisation,
    build_workspace,
    to_date,
)
from sandbox.ids import end_user_id, rng_for
from sandbox.stores.asana import Workspace
from sandbox.stores.gmail import Mailbox, render_message
from sandbox.stores.xero import Organisation
from sandbox.studio import Studio, make_studio


@dataclass
class UserWorld:
    """Everything one end user's accounts hold. Take `lock` around every read and write."""

    user_id: str
    studio: Studio
    mailbox: Mailbox
    workspace: Workspace
    org: Organisation
    ids: Ids
    mail: _MailContext
    serial: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)

    def next_serial(self) -> int:
        self.serial += 1
        return self.serial

    def record_count(self) -> int:
        return (len(self.mailbox.messages) + len(self.workspace.tasks) + len(self.workspace.projects)
                + len(self.org.invoices) + len(self.org.contacts))


def build_user(seed: int, user_id: str, now_ms: int, scale: float) -> UserWorld:
    """Generate one end user's studio and the three services' data for it."""
    ids = Ids(seed, user_id)
    studio = make_studio(rng_for(seed, user_id, "studio"), to_date(now_ms), scale)
    mailbox = build_mailbox(studio, ids, now_ms)
    mail = _MailContext(studio, mailbox, ids, rng_for(seed, user_id, "gmail-changes"), now_ms, serial=10**6)
    return UserWorld(user_id, studio, mailbox, build_workspace(studio, ids, now_ms),
                     build_organisation(studio, ids, now_ms), ids, mail)


class World:
    """All users' data and the virtual clock that change batches advance."""

    def __init__(self, seed: int, now: datetime, scale: float = 1.0):
        self.seed = seed
        self.scale = scale
        self.start_ms = int(now.astimezone(timezone.utc).timestamp() * 1000)
        self.clock_ms = self.start_ms
        self.batches = 0
        self.lock = threading.RLock()
        self._users: dict[str, UserWorld] = {}

    def initial_user_ids(self, count: int) -> list[str]:
        return [end_user_id(self.seed, index) for index in range(count)]

    def user(self, user_id: str) -> UserWorld:
        """Return a user's world, generating it on first use."""
        with self.lock:
            if user_id not in self._users:
                self._users[user_id] = build_user(self.seed, user_id, self.start_ms, self.scale)
            return self._users[user_id]

    def users(self) -> list[UserWorld]:
        with self.lock:
            return list(self._users.values())

    def advance(self, ms: int) -> int:
        with self.lock:
            self.clock_ms += ms
            return self.clock_ms

    def truth(self, user_id: str) -> dict:
        """Everything a converged replica must agree with, deleted records included."""
        user = self.user(user_id)
        with user.lock:
            return {
                "user_id": user_id,
                "clock": self.clock_ms,
                "gmail": _gmail_truth(user.mailbox),
                "asana": _asana_truth(user.workspace),
                "xero": _xero_truth(user.org),
            }


def _gmail_truth(mailbox: Mailbox) -> dict:
    live = [dict(render_message(m, "metadata", []), deleted=False) for m in mailbox.ordered()]
    gone = [dict(render_message(m, "minimal", []), deleted=True) for m in mailbox.deleted.values()]
    return {"email": mailbox.email, "historyId": str(mailbox.history_id), "messages": live + gone}


def _asana_truth(workspace: Workspace) -> dict:
    projects = [dict(workspace.project_json(p), deleted=False) for p in workspace.projects.values()]
    projects += [dict(workspace.project_json(p), deleted=True) for p in workspace.deleted_projects.values()]
    tasks = [dict(workspace.task_json(t), deleted=False) for t in workspace.tasks.values()]
    tasks += [dict(workspace.task_json(t), deleted=True) for t in workspace.deleted_tasks.values()]
    return {"workspace": workspace.workspace_json(), "projects": projects, "tasks": tasks}


def _xero_truth(org: Organisation) -> dict:
    return {
        "tenant_id": org.tenant_id,
        "contacts": [org.contact_json(c) for c in org.contacts.values()],
        "invoices": [org.invoice_json(i) for i in org.invoices.values()],
        "payments": [org.payment_json(p) for p in org.payments.values()],
    }
