"""Build each user's context documents from the marts: plain data in, pydantic documents out."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from pipelines.documents.schema import (
    AllDoc,
    Bill,
    ClientThreads,
    CommunicationsBody,
    CommunicationsDoc,
    CurrencySummary,
    FinancialsBody,
    FinancialsDoc,
    Freshness,
    Header,
    OpenInvoice,
    OverdueInvoice,
    Project,
    ProjectsBody,
    ProjectsDoc,
    TaskGroup,
    TaskItem,
    TasksBody,
    TasksDoc,
    Thread,
    Unmatched,
)
from pipelines.warehouse import Warehouse
from sylo.services import SERVICES

MARTS = ("projects", "communications", "tasks", "invoices", "financials", "match_report")


@dataclass
class UserData:
    marts: dict[str, list[dict]] = field(default_factory=lambda: {mart: [] for mart in MARTS})
    sync: dict[str, tuple] = field(default_factory=dict)  # service -> (last_success, error, blocked_until)


def load(warehouse: Warehouse, user_ids: list[str]) -> dict[str, UserData]:
    """Every mart row and sync state of the users, one query per mart."""
    data = {user_id: UserData() for user_id in user_ids}
    with warehouse.read() as tx:
        for mart in MARTS:
            for row in tx.records(warehouse.sql.render("doc_mart", mart=mart)[0], {"user_ids": user_ids}):
                data[row["user_id"]].marts[mart].append(row)
        for user_id, service, success, error, blocked, _ in tx.execute(
                warehouse.sql.render("doc_freshness")[0], {"user_ids": user_ids}):
            data[user_id].sync[service] = (success, error, blocked)
    return data


def freshness(data: UserData, as_of: datetime, stale_after: timedelta,
              connections: dict[str, str] | None = None) -> list[Freshness]:
    """Each source's last success and whether it is stale; `connections` maps service -> app DB status."""
    out = []
    for service in (s.name for s in SERVICES):
        success, error, blocked = data.sync.get(service, (None, None, None))
        status = (connections or {}).get(service, "connected" if service in data.sync else "not connected")
        note = None
        if status == "not connected":
            note = "not connected"
        elif status == "disconnected":
            note = "disconnected by the studio owner; data is as of the last sync"
        elif status == "needs_reauth":
            note = "needs reconnecting: the service refused Sylo's access"
        elif blocked and _aware(blocked) > as_of:
            note = f"paused until {_aware(blocked):%Y-%m-%d %H:%M} UTC (daily API limit)"
        elif error:
            note = f"last sync failed: {error[:200]}"
        stale = success is None or as_of - _aware(success) > stale_after
        out.append(Freshness(service=service, connected=status in ("connected", "needs_reauth"),
                             last_success_at=_aware(success) if success else None, stale=stale, note=note))
    return out


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _money(value: Decimal | float | None) -> float:
    return round(float(value or 0), 2)


def build_documents(user_id: str, data: UserData, as_of: datetime, stale_after: timedelta,
                    connections: dict[str, str] | None = None) -> dict[str, Header]:
    """The five documents of one user."""
    header = {"user_id": user_id, "as_of": as_of, "stale_after_hours": stale_after.total_seconds() / 3600,
              "freshness": freshness(data, as_of, stale_after, connections)}
    project_names = {row["project_id"]: row["name"] for row in data.marts["projects"]}
    bodies = {
        "projects": projects_body(data),
        "communications": communications_body(data),
        "tasks": tasks_body(data),
        "financials": financials_body(data, project_names, as_of.date()),
    }
    return {
        "all": AllDoc(**header, **bodies),
        "projects": ProjectsDoc(**header, **bodies["projects"].model_dump()),
        "communications": CommunicationsDoc(**header, **bodies["communications"].model_dump()),
        "tasks": TasksDoc(**header, **bodies["tasks"].model_dump()),
        "financials": FinancialsDoc(**header, **bodies["financials"].model_dump()),
    }


def projects_body(data: UserData) -> ProjectsBody:
    rows = sorted(data.marts["projects"], key=lambda r: (r["archived"], -r["overdue_tasks"],
                                                         -float(r["outstanding_amount"]), r["name"], r["project_id"]))
    projects = [Project(id=r["project_id"], name=r["name"], client=r["client"], client_match=r["client_match"],
                        archived=r["archived"], open_tasks=r["open_tasks"], overdue_tasks=r["overdue_tasks"],
                        due_soon_tasks=r["due_soon_tasks"], next_due_on=r["next_due_on"],
                        outstanding_amount=_money(r["outstanding_amount"]), overdue_amount=_money(r["overdue_amount"]),
                        client_outstanding_amount=_money(r["client_outstanding_amount"]), currency=r["currency"],
                        last_email_at=r["last_email_at"], threads=r["threads"], url=r["url"]) for r in rows]
    unmatched = [Unmatched(kind=r["kind"], label=r["label"], reason=r["reason"])
                 for r in sorted(data.marts["match_report"], key=lambda r: (r["kind"], r["label"] or "", r["record_id"]))]
    return ProjectsBody(projects=projects, unmatched=unmatched)


def communications_body(data: UserData) -> CommunicationsBody:
    rows = sorted(data.marts["communications"],
                  key=lambda r: (not r["awaiting_reply"], not r["unread"], -r["last_message_at"].timestamp(),
                                 r["thread_id"]))
    threads = [Thread(id=r["thread_id"], subject=r["subject"], counterpart=r["counterpart"], client=r["client_name"],
                      project=r["project_name"], last_message_at=r["last_message_at"], messages=r["message_count"],
                      unread=r["unread"], awaiting_reply=r["awaiting_reply"], url=r["url"]) for r in rows]
    groups: dict[str | None, list[Thread]] = defaultdict(list)
    for thread in threads:
        groups[thread.client].append(thread)
    by_client = sorted((ClientThreads(client=client, threads=len(items), unread=sum(t.unread for t in items),
                                      awaiting_reply=sum(t.awaiting_reply for t in items))
                        for client, items in groups.items()),
                       key=lambda g: (-g.awaiting_reply, -g.unread, -g.threads, g.client or "~"))
    return CommunicationsBody(unread=sum(t.unread for t in threads),
                              awaiting_reply=sum(t.awaiting_reply for t in threads),
                              threads=threads, by_client=by_client)


def _task(row: dict) -> TaskItem:
    return TaskItem(id=row["task_id"], name=row["name"], project=row["project_name"], due_on=row["due_on"],
                    assignee=row["assignee_name"], days_overdue=row["days_overdue"],
                    completed_at=row["completed_at"] if row["completed"] else None, url=row["url"])


def tasks_body(data: UserData) -> TasksBody:
    rows = data.marts["tasks"]
    by_status: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_status[row["status"]].append(row)
    overdue = sorted(by_status["overdue"], key=lambda r: (-r["days_overdue"], r["name"], r["task_id"]))
    due_soon = sorted(by_status["due_soon"], key=lambda r: (r["due_on"], r["name"], r["task_id"]))
    done = sorted(by_status["recently_completed"], key=lambda r: (-r["completed_at"].timestamp(), r["task_id"]))
    open_rows = [r for r in rows if not r["completed"]]
    return TasksBody(open_tasks=len(open_rows), overdue=[_task(r) for r in overdue],
                     due_soon=[_task(r) for r in due_soon], recently_completed=[_task(r) for r in done],
                     by_project=_groups(open_rows, "project_name", "(no project)"),
                     by_assignee=_groups(open_rows, "assignee_name", "(unassigned)"))


def _groups(rows: list[dict], key: str, missing: str) -> list[TaskGroup]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[row[key] or missing].append(row)
    return sorted((TaskGroup(name=name, open=len(items), overdue=sum(r["status"] == "overdue" for r in items),
                             due_soon=sum(r["status"] == "due_soon" for r in items))
                   for name, items in groups.items()),
                  key=lambda g: (-g.overdue, -g.due_soon, -g.open, g.name))


def financials_body(data: UserData, project_names: dict[str, str], today: date) -> FinancialsBody:
    summary = [CurrencySummary(currency=r["currency"], receivables_outstanding=_money(r["receivables_outstanding"]),
                               receivables_overdue=_money(r["receivables_overdue"]),
                               overdue_invoices=r["overdue_invoices"], bills_due=_money(r["bills_due"]),
                               bills_overdue=_money(r["bills_overdue"]),
                               cash_expected_30_days=_money(r["cash_expected_30_days"]),
                               draft_invoices=r["draft_invoices"])
               for r in sorted(data.marts["financials"], key=lambda r: r["currency"])]
    invoices = data.marts["invoices"]
    overdue = sorted((r for r in invoices if r["kind"] == "invoice" and r["overdue"]),
                     key=lambda r: (-r["days_overdue"], r["invoice_number"] or "", r["invoice_id"]))
    upcoming = sorted((r for r in invoices if r["kind"] == "invoice" and r["status"] == "AUTHORISED"
                       and not r["overdue"] and r["amount_due"] > 0 and r["due_on"] is not None
                       and r["due_on"] <= today + timedelta(days=30)),
                      key=lambda r: (r["due_on"], r["invoice_id"]))
    bills = sorted((r for r in invoices if r["kind"] == "bill" and r["status"] == "AUTHORISED" and r["amount_due"] > 0),
                   key=lambda r: (r["due_on"] or date.max, r["invoice_id"]))
    return FinancialsBody(
        summary=summary,
        overdue_invoices=[OverdueInvoice(id=r["invoice_id"], invoice_number=r["invoice_number"], contact=r["contact_name"],
                                         project=project_names.get(r["project_id"]), amount_due=_money(r["amount_due"]),
                                         currency=r["currency"], due_date=r["due_on"], days_overdue=r["days_overdue"],
                                         url=r["url"]) for r in overdue],
        due_in_30_days=[OpenInvoice(id=r["invoice_id"], invoice_number=r["invoice_number"], contact=r["contact_name"],
                                    project=project_names.get(r["project_id"]), amount_due=_money(r["amount_due"]),
                                    currency=r["currency"], due_date=r["due_on"], url=r["url"]) for r in upcoming],
        bills_due=[Bill(id=r["invoice_id"], reference=r["reference"] or r["invoice_number"], supplier=r["contact_name"],
                        amount_due=_money(r["amount_due"]), currency=r["currency"], due_date=r["due_on"],
                        overdue=bool(r["overdue"]), url=r["url"]) for r in bills],
    )

