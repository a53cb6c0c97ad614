"""Build each user's context documents from the marts: plain data in, pydantic documents out."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from pipelines.documents import links
from pipelines.documents.schema import (
    AllDoc,
    Availability,
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
from sylo.services import SERVICES, service
from sylo.clock import as_utc as _aware

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
        for user_id, name, success, error, blocked, _ in tx.execute(
                warehouse.sql.render("doc_freshness")[0], {"user_ids": user_ids}):
            data[user_id].sync[name] = (success, error, blocked)
    return data


def freshness(data: UserData, as_of: datetime, stale_after: timedelta,
              connections: dict[str, str] | None = None) -> list[Freshness]:
    """Each source's state, last success and whether it is stale; `connections` maps service -> app DB status."""
    out = []
    for source in SERVICES:
        success, error, blocked = data.sync.get(source.name, (None, None, None))
        success, blocked = _aware(success), _aware(blocked)
        status = (connections or {}).get(source.name, "connected" if source.name in data.sync else "not connected")
        paused_until = blocked if blocked and blocked > as_of else None
        state = source_state(status, success, error, paused_until, as_of - stale_after)
        out.append(Freshness(service=source.name, state=state, connected=status in ("connected", "needs_reauth"),
                             last_success_at=success, stale=success is None or as_of - success > stale_after,
                             paused_until=paused_until, error=error if state == "failing" else None,
                             note=_note(state, source.display_name, paused_until, error)))
    return out


def source_state(status: str, success: datetime | None, error: str | None, paused_until: datetime | None,
                 fresh_since: datetime) -> str:
    """One word for where a source stands; the app DB's connection status comes first, then the sync's."""
    if status == "not connected":
        return "not_connected"
    if status in ("disconnected", "needs_reauth"):
        return {"disconnected": "disconnected", "needs_reauth": "needs_reconnect"}[status]
    if paused_until:
        return "paused"
    if error:
        return "failing"
    if success is None:
        return "first_sync"
    return "current" if success >= fresh_since else "stale"


def _note(state: str, name: str, paused_until: datetime | None, error: str | None) -> str | None:
    """The same state in words, for people and agents reading the JSON."""
    if state == "failing":
        return f"last sync failed: {error}"  # the dashboard's connection card reads this prefix
    return {
        "paused": f"paused until {paused_until:%Y-%m-%d %H:%M} UTC (daily API limit)" if paused_until else None,
        "needs_reconnect": f"needs reconnecting: {name} refused Sylo's access",
        "disconnected": "disconnected by the studio owner; data is as of the last sync",
        "first_sync": "connected; the first sync has not finished",
        "not_connected": "not connected",
    }.get(state)


def availability(kind: str, sources: list[Freshness]) -> Availability:
    """Whether Sylo knows a body's facts: from the sources the services registry says feed it."""
    feeding = [s for s in sources if kind in service(s.service).documents]
    if any(s.last_success_at is None for s in feeding):
        status = "unavailable"
    elif any(s.state != "current" for s in feeding):
        status = "outdated"
    else:
        status = "complete"
    return Availability(status=status, services=[s.service for s in feeding])


def _money(value: Decimal | float | None) -> float:
    return round(float(value or 0), 2)


def build_documents(user_id: str, data: UserData, as_of: datetime, stale_after: timedelta,
                    connections: dict[str, str] | None = None) -> dict[str, Header]:
    """The five documents of one user."""
    sources = freshness(data, as_of, stale_after, connections)
    header = {"user_id": user_id, "as_of": as_of, "stale_after_hours": stale_after.total_seconds() / 3600,
              "freshness": sources}
    known = {kind: availability(kind, sources) for kind in BODIES}
    project_names = {row["project_id"]: row["name"] for row in data.marts["projects"]}
    bodies = {
        "projects": projects_body(data, known["projects"], money=known["financials"], mail=known["communications"]),
        "communications": communications_body(data, known["communications"]),
        "tasks": tasks_body(data, known["tasks"]),
        "financials": financials_body(data, known["financials"], project_names, as_of.date()),
    }
    return {
        "all": AllDoc(**header, **bodies),
        "projects": ProjectsDoc(**header, **dict(bodies["projects"])),
        "communications": CommunicationsDoc(**header, **dict(bodies["communications"])),
        "tasks": TasksDoc(**header, **dict(bodies["tasks"])),
        "financials": FinancialsDoc(**header, **dict(bodies["financials"])),
    }


BODIES = ("projects", "communications", "tasks", "financials")


def _unknown(body: type, known: Availability):
    """A body whose facts Sylo does not know: every list and count null."""
    return body(availability=known, **{name: None for name in body.model_fields if name != "availability"})


def projects_body(data: UserData, known: Availability, *, money: Availability, mail: Availability) -> ProjectsBody:
    """Projects with their clients and mail; fields from a service Sylo knows nothing of are null."""
    if known.status == "unavailable":
        return _unknown(ProjectsBody, known)
    rows = sorted(data.marts["projects"], key=lambda r: (r["archived"], -r["overdue_tasks"],
                                                         -float(r["outstanding_amount"]), r["name"], r["project_id"]))
    no_money, no_mail = money.status == "unavailable", mail.status == "unavailable"
    projects = [Project(id=r["project_id"], name=r["name"], client=r["client"],
                        client_contact_id=None if no_money else r["contact_id"],
                        client_match=None if no_money else r["client_match"],
                        archived=r["archived"], open_tasks=r["open_tasks"], overdue_tasks=r["overdue_tasks"],
                        due_soon_tasks=r["due_soon_tasks"], next_due_on=r["next_due_on"],
                        outstanding_amount=None if no_money else _money(r["outstanding_amount"]),
                        overdue_amount=None if no_money else _money(r["overdue_amount"]),
                        client_outstanding_amount=None if no_money else _money(r["client_outstanding_amount"]),
                        currency=r["currency"], last_email_at=r["last_email_at"],
                        threads=None if no_mail else r["threads"], url=links.asana(r["url"], r["project_id"]))
                for r in rows]
    unmatched = [Unmatched(kind=r["kind"], label=r["label"], reason=r["reason"])
                 for r in sorted(data.marts["match_report"], key=lambda r: (r["kind"], r["label"] or "", r["record_id"]))
                 if not (no_money and r["kind"] == "project")]  # without Xero, no project could have a client
    return ProjectsBody(availability=known, projects=projects, unmatched=unmatched)


def communications_body(data: UserData, known: Availability) -> CommunicationsBody:
    if known.status == "unavailable":
        return _unknown(CommunicationsBody, known)
    rows = sorted(data.marts["communications"],
                  key=lambda r: (not r["awaiting_reply"], not r["unread"], -r["last_message_at"].timestamp(),
                                 r["thread_id"]))
    threads = [Thread(id=r["thread_id"], subject=r["subject"], counterpart=r["counterpart"],
                      counterpart_email=r["counterpart_email"], client=r["client_name"],
                      project=r["project_name"], last_message_at=r["last_message_at"], messages=r["message_count"],
                      unread=r["unread"], awaiting_reply=r["awaiting_reply"], url=links.gmail_thread(r["thread_id"]))
               for r in rows]
    groups: dict[str | None, list[Thread]] = defaultdict(list)
    for thread in threads:
        groups[thread.client].append(thread)
    by_client = sorted((ClientThreads(client=client, threads=len(items), unread=sum(t.unread for t in items),
                                      awaiting_reply=sum(t.awaiting_reply for t in items))
                        for client, items in groups.items()),
                       key=lambda g: (-g.awaiting_reply, -g.unread, -g.threads, g.client is None, g.client or ""))
    return CommunicationsBody(availability=known, unread=sum(t.unread for t in threads),
                              awaiting_reply=sum(t.awaiting_reply for t in threads),
                              threads=threads, by_client=by_client)


def _task(row: dict) -> TaskItem:
    return TaskItem(id=row["task_id"], name=row["name"], project=row["project_name"], project_id=row["project_id"],
                    due_on=row["due_on"], assignee=row["assignee_name"], assignee_gid=row["assignee_id"],
                    days_overdue=row["days_overdue"],
                    completed_at=row["completed_at"] if row["completed"] else None,
                    url=links.asana(row["url"], row["task_id"]))


def tasks_body(data: UserData, known: Availability) -> TasksBody:
    if known.status == "unavailable":
        return _unknown(TasksBody, known)
    rows = data.marts["tasks"]
    by_status: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_status[row["status"]].append(row)
    overdue = sorted(by_status["overdue"], key=lambda r: (-r["days_overdue"], r["name"], r["task_id"]))
    due_soon = sorted(by_status["due_soon"], key=lambda r: (r["due_on"], r["name"], r["task_id"]))
    done = sorted(by_status["recently_completed"], key=lambda r: (-r["completed_at"].timestamp(), r["task_id"]))
    open_rows = [r for r in rows if not r["completed"]]
    return TasksBody(availability=known, open_tasks=len(open_rows), overdue=[_task(r) for r in overdue],
                     due_soon=[_task(r) for r in due_soon], recently_completed=[_task(r) for r in done],
                     by_project=_groups(open_rows, "project_name"), by_assignee=_groups(open_rows, "assignee_name"))


def _groups(rows: list[dict], key: str) -> list[TaskGroup]:
    """Open tasks counted per project or assignee; `name` None gathers those with none."""
    groups: dict[str | None, list[dict]] = defaultdict(list)
    for row in rows:
        groups[row[key]].append(row)
    return sorted((TaskGroup(name=name, open=len(items), overdue=sum(r["status"] == "overdue" for r in items),
                             due_soon=sum(r["status"] == "due_soon" for r in items))
                   for name, items in groups.items()),
                  key=lambda g: (-g.overdue, -g.due_soon, -g.open, g.name is None, g.name or ""))


def financials_body(data: UserData, known: Availability, project_names: dict[str, str], today: date) -> FinancialsBody:
    if known.status == "unavailable":
        return _unknown(FinancialsBody, known)
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
        availability=known,
        summary=summary,
        overdue_invoices=[OverdueInvoice(id=r["invoice_id"], invoice_number=r["invoice_number"], contact=r["contact_name"],
                                         contact_id=r["contact_id"],
                                         project=project_names.get(r["project_id"]), amount_due=_money(r["amount_due"]),
                                         currency=r["currency"], due_date=r["due_on"], days_overdue=r["days_overdue"],
                                         url=links.xero(r["invoice_id"], r["kind"])) for r in overdue],
        due_in_30_days=[OpenInvoice(id=r["invoice_id"], invoice_number=r["invoice_number"], contact=r["contact_name"],
                                    contact_id=r["contact_id"],
                                    project=project_names.get(r["project_id"]), amount_due=_money(r["amount_due"]),
                                    currency=r["currency"], due_date=r["due_on"],
                                    url=links.xero(r["invoice_id"], r["kind"])) for r in upcoming],
        bills_due=[Bill(id=r["invoice_id"], reference=r["reference"] or r["invoice_number"], supplier=r["contact_name"],
                        amount_due=_money(r["amount_due"]), currency=r["currency"], due_date=r["due_on"],
                        overdue=bool(r["overdue"]), url=links.xero(r["invoice_id"], r["kind"])) for r in bills],
    )
