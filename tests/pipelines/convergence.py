"""Compare a user's replica with the sandbox's ground truth, service by service."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

from pipelines.warehouse import Warehouse

GONE_LABELS = {"TRASH", "SPAM"}


def _rows(warehouse: Warehouse, table: str, columns: str, user_id: str, live_only: bool = True) -> list[tuple]:
    live = " AND _deleted_at IS NULL" if live_only else ""
    return warehouse.query(f"SELECT {columns} FROM raw.{table} WHERE user_id = {warehouse.param('u')}{live}",
                           {"u": user_id})


def _money(value) -> Decimal:
    return Decimal(str(round(float(value), 2)))


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def expected(truth: dict) -> dict[str, dict]:
    gmail = {m["id"]: (tuple(sorted(m["labelIds"])), m["threadId"]) for m in truth["gmail"]["messages"]
             if not m["deleted"] and not GONE_LABELS & set(m["labelIds"])}
    projects = {p["gid"]: (p["name"], p["archived"]) for p in truth["asana"]["projects"] if not p["deleted"]}
    tasks = {t["gid"]: (t["name"], t["completed"], date.fromisoformat(t["due_on"]) if t["due_on"] else None,
                        (t["assignee"] or {}).get("gid"), t["memberships"][0]["project"]["gid"], _ts(t["modified_at"]))
             for t in truth["asana"]["tasks"] if not t["deleted"]}
    contacts = {c["ContactID"]: (c["Name"], (c["EmailAddress"] or "").lower() or None, c["ContactStatus"])
                for c in truth["xero"]["contacts"]}
    invoices = {i["InvoiceID"]: (i["Status"], _money(i["AmountDue"]), i["DueDateString"][:10], _money(i["Total"]))
                for i in truth["xero"]["invoices"]}
    return {"gmail_messages": gmail, "asana_projects": projects, "asana_tasks": tasks,
            "xero_contacts": contacts, "xero_invoices": invoices}


def actual(warehouse: Warehouse, user_id: str) -> dict[str, dict]:
    gmail = {r[0]: (tuple(json.loads(r[1])), r[2])
             for r in _rows(warehouse, "gmail_messages", "id, label_ids, thread_id", user_id)}
    projects = {r[0]: (r[1], r[2]) for r in _rows(warehouse, "asana_projects", "id, name, archived", user_id)}
    tasks = {r[0]: tuple(r[1:]) for r in _rows(
        warehouse, "asana_tasks", "id, name, completed, due_on, assignee_id, project_id, modified_at", user_id)}
    contacts = {r[0]: tuple(r[1:]) for r in _rows(warehouse, "xero_contacts", "id, name, email, status", user_id, False)}
    invoices = {r[0]: (r[1], r[2], r[3].isoformat() if r[3] else None, r[4])
                for r in _rows(warehouse, "xero_invoices", "id, status, amount_due, due_on, total", user_id, False)}
    return {"gmail_messages": gmail, "asana_projects": projects, "asana_tasks": tasks,
            "xero_contacts": contacts, "xero_invoices": invoices}


def live_xero(warehouse: Warehouse, user_id: str, table: str) -> set[str]:
    return {r[0] for r in _rows(warehouse, table, "id", user_id)}


def assert_converged(warehouse: Warehouse, truth: dict) -> None:
    """The replica holds exactly the live records of the truth, with the same content."""
    user_id = truth["user_id"]
    want, got = expected(truth), actual(warehouse, user_id)
    problems = []
    for table in want:
        missing = set(want[table]) - set(got[table])
        extra = set(got[table]) - set(want[table])
        differ = [k for k in set(want[table]) & set(got[table]) if want[table][k] != got[table][k]]
        if missing or extra or differ:
            sample = differ[:2]
            problems.append(f"{table}: {len(missing)} missing, {len(extra)} extra, {len(differ)} differ "
                            f"(e.g. {[(k, want[table][k], got[table][k]) for k in sample]}, "
                            f"missing {sorted(missing)[:3]}, extra {sorted(extra)[:3]})")
    live_contacts = {c["ContactID"] for c in truth["xero"]["contacts"] if c["ContactStatus"] == "ACTIVE"}
    live_invoices = {i["InvoiceID"] for i in truth["xero"]["invoices"] if i["Status"] not in ("DELETED", "VOIDED")}
    if live_xero(warehouse, user_id, "xero_contacts") != live_contacts:
        problems.append("xero_contacts: tombstones disagree with ContactStatus")
    if live_xero(warehouse, user_id, "xero_invoices") != live_invoices:
        problems.append("xero_invoices: tombstones disagree with Status")
    assert not problems, f"user {user_id} has not converged:\n  " + "\n  ".join(problems)


def assert_no_duplicates(warehouse: Warehouse) -> None:
    for table in ("gmail_messages", "asana_projects", "asana_tasks", "xero_contacts", "xero_invoices"):
        rows = warehouse.query(f"SELECT user_id, id, count(*) FROM raw.{table} GROUP BY user_id, id HAVING count(*) > 1")
        assert rows == [], f"duplicate ids in raw.{table}: {rows[:3]}"
