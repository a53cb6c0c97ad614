"""What a context document holds, as pydantic models: the JSON, the YAML and the published JSON
Schema (`schemas/context/<kind>.schema.json`) all come from here.

Key paths agents may rely on (more fields may appear, none of these will go):
`financials.overdue_invoices[]`, `tasks.overdue[]`, `tasks.due_soon[]`, `communications.threads[]`,
`projects.projects[]`. In `all`, the same bodies sit under `projects`, `communications`,
`tasks` and `financials`.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas" / "context"
Service = Literal["gmail", "asana", "xero"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Freshness(Strict):
    service: Service
    connected: bool
    last_success_at: datetime | None = Field(description="When this source last synced successfully.")
    stale: bool = Field(description="True when the last successful sync is older than the stale threshold.")
    note: str | None = Field(None, description="Why the source may be behind: a failed sync, a pause, a reconnect.")


class Changes(Strict):
    since: datetime | None = Field(description="as_of of the previous version this is compared with.")
    new: list[str]
    changed: list[str]
    removed: list[str]
    more: int = Field(0, description="Changes not listed, to keep the list short.")


class Header(Strict):
    user_id: str
    kind: str
    as_of: datetime = Field(description="When the document was built from the synced data.")
    stale_after_hours: float
    freshness: list[Freshness]
    changes: Changes | None = Field(None, description="What is new or different since the previous version.")


# -- financials ---------------------------------------------------------------------------------


class CurrencySummary(Strict):
    currency: str
    receivables_outstanding: float
    receivables_overdue: float
    overdue_invoices: int
    bills_due: float
    bills_overdue: float
    cash_expected_30_days: float
    draft_invoices: int


class OverdueInvoice(Strict):
    id: str
    invoice_number: str | None
    contact: str | None
    project: str | None
    amount_due: float
    currency: str | None
    due_date: date
    days_overdue: int
    url: str


class OpenInvoice(Strict):
    id: str
    invoice_number: str | None
    contact: str | None
    project: str | None
    amount_due: float
    currency: str | None
    due_date: date | None
    url: str


class Bill(Strict):
    id: str
    reference: str | None
    supplier: str | None
    amount_due: float
    currency: str | None
    due_date: date | None
    overdue: bool
    url: str


class FinancialsBody(Strict):
    summary: list[CurrencySummary]
    overdue_invoices: list[OverdueInvoice]
    due_in_30_days: list[OpenInvoice]
    bills_due: list[Bill]


# -- tasks ----------------------------------------------------------------------------------------


class TaskItem(Strict):
    id: str
    name: str
    project: str | None
    due_on: date | None
    assignee: str | None
    days_overdue: int | None = None
    completed_at: datetime | None = None
    url: str | None


class TaskGroup(Strict):
    name: str
    open: int
    overdue: int
    due_soon: int


class TasksBody(Strict):
    open_tasks: int
    overdue: list[TaskItem]
    due_soon: list[TaskItem]
    recently_completed: list[TaskItem]
    by_project: list[TaskGroup]
    by_assignee: list[TaskGroup]


# -- communications ---------------------------------------------------------------------------------


class Thread(Strict):
    id: str
    subject: str | None
    counterpart: str | None
    client: str | None
    project: str | None
    last_message_at: datetime
    messages: int
    unread: bool
    awaiting_reply: bool
    url: str


class ClientThreads(Strict):
    client: str | None
    threads: int
    unread: int
    awaiting_reply: int


class CommunicationsBody(Strict):
    unread: int
    awaiting_reply: int
    threads: list[Thread]
    by_client: list[ClientThreads]


# -- projects -------------------------------------------------------------------------------------


class Project(Strict):
    id: str
    name: str
    client: str | None
    client_match: Literal["name", "unmatched", "ambiguous"]
    archived: bool
    open_tasks: int
    overdue_tasks: int
    due_soon_tasks: int
    next_due_on: date | None
    outstanding_amount: float
    overdue_amount: float
    client_outstanding_amount: float
    currency: str | None
    last_email_at: datetime | None
    threads: int
    url: str | None


class Unmatched(Strict):
    kind: Literal["project", "client", "thread", "invoice"]
    label: str | None
    reason: str


class ProjectsBody(Strict):
    projects: list[Project]
    unmatched: list[Unmatched]


# -- documents ------------------------------------------------------------------------------------


class FinancialsDoc(Header, FinancialsBody):
    kind: Literal["financials"] = "financials"


class TasksDoc(Header, TasksBody):
    kind: Literal["tasks"] = "tasks"


class CommunicationsDoc(Header, CommunicationsBody):
    kind: Literal["communications"] = "communications"


class ProjectsDoc(Header, ProjectsBody):
    kind: Literal["projects"] = "projects"


class AllDoc(Header):
    kind: Literal["all"] = "all"
    projects: ProjectsBody
    communications: CommunicationsBody
    tasks: TasksBody
    financials: FinancialsBody


DOCUMENTS: dict[str, type[Header]] = {"all": AllDoc, "projects": ProjectsDoc, "communications": CommunicationsDoc,
                                      "tasks": TasksDoc, "financials": FinancialsDoc}


def json_schema(kind: str) -> dict:
    schema = DOCUMENTS[kind].model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://sylo.dev/schemas/context/{kind}.schema.json"
    return schema


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Regenerate the published schemas (a test fails when the committed ones drift)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in DOCUMENTS:
        path = directory / f"{kind}.schema.json"
        path.write_text(json.dumps(json_schema(kind), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
