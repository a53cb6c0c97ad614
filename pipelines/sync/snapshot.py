"""Load whole snapshots of users' provider records into the warehouse, through the sync's own row mapping.

For benchmarks and tests of what comes after the sync: 1,000 users in seconds instead of
minutes of HTTP, and exactly the rows the sync would write for the same records. A snapshot is
one user's records as the providers' APIs return them, each with a `deleted` flag:
`{"gmail": {"messages"}, "asana": {"projects", "tasks"}, "xero": {"contacts", "invoices"}}` —
the shape of the sandbox's ground truth (`World.truth`), which this module reads through the
`Snapshots` protocol so that the pipeline never imports the sandbox.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Protocol

from pipelines.sync.asana import AsanaProject, AsanaTask, project_row, task_row
from pipelines.sync.gmail import GmailMessage, to_row
from pipelines.sync.xero import XeroContact, XeroInvoice, contact_row, invoice_row
from pipelines.warehouse import Batch, StreamState, Tombstones, Warehouse
from sylo.services import SERVICES

# A stream is `<service>.<table without the service's prefix>`: gmail.messages, asana.tasks, ...
STREAMS = tuple(f"{s.name}.{t.removeprefix(s.name + '_')}" for s in SERVICES for t in s.table_names)


class Snapshots(Protocol):
    """Where users' snapshots come from (the sandbox's `World` is one)."""

    def truth(self, user_id: str) -> dict: ...


def snapshot_batch(user_id: str, snapshot: dict, now: datetime) -> Batch:
    """One user's whole replica as one batch: live rows, soft deletes, and successful sync states."""
    gmail, asana, xero = snapshot["gmail"], snapshot["asana"], snapshot["xero"]
    messages = [to_row(user_id, GmailMessage.model_validate(m), now) for m in gmail["messages"] if not m["deleted"]]
    projects = [project_row(user_id, AsanaProject.model_validate(p), now)
                for p in asana["projects"] if not p["deleted"]]
    tasks = [task_row(user_id, AsanaTask.model_validate(t), t["memberships"][0]["project"]["gid"], now)
             for t in asana["tasks"] if not t["deleted"]]
    contacts = [contact_row(user_id, XeroContact.model_validate(c), now) for c in xero["contacts"]]
    invoices = [invoice_row(user_id, XeroInvoice.model_validate(i), now) for i in xero["invoices"]]
    gone_messages = [m["id"] for m in gmail["messages"] if m["deleted"]]
    gone_tasks = [t["gid"] for t in asana["tasks"] if t["deleted"]]
    gone_projects = [p["gid"] for p in asana["projects"] if p["deleted"]]
    return Batch(rows={"gmail_messages": messages, "asana_projects": projects, "asana_tasks": tasks,
                       "xero_contacts": contacts, "xero_invoices": invoices},
                 tombstones=[Tombstones("gmail_messages", gone_messages), Tombstones("asana_tasks", gone_tasks),
                             Tombstones("asana_projects", gone_projects)],
                 states=[StreamState(s, {}, last_success_at=now) for s in STREAMS])


def populate(warehouse: Warehouse, snapshots: Snapshots, user_ids: list[str], now: datetime | None = None,
             group: int = 25) -> None:
    """Write the users' replicas, a group of users per transaction."""
    now = now or datetime.now(timezone.utc)
    warehouse.ensure_schema()
    for start in range(0, len(user_ids), group):
        warehouse.apply_many([(user_id, snapshot_batch(user_id, snapshots.truth(user_id), now), now)
                              for user_id in user_ids[start:start + group]])
