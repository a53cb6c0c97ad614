"""What changed since a document's previous version, and whether anything changed at all.

A user's documents are rewritten only when their fingerprint changes: the data, the stale or
error state of a source, or the templates. Sync times alone do not count, so a sync that finds
nothing new leaves every file (and its ETag) as it was.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date

from pipelines.documents.schema import ChangedField, Change, Changes, Header

MAX_LISTED = 25
DATES = {"due_date", "due_on"}


def fingerprint(docs: dict[str, Header], templates: str) -> str:
    payload = {kind: _stable(doc) for kind, doc in sorted(docs.items())}
    text = json.dumps(payload, sort_keys=True, default=str) + templates
    return hashlib.sha256(text.encode()).hexdigest()


def _stable(doc: Header) -> dict:
    data = doc.model_dump(mode="json", exclude={"as_of", "changes"})
    for source in data["freshness"]:
        source.pop("last_success_at")
    return data


# Per tracked list: what an item is, its name and context, and which fields count as a change.
# Days overdue and the like move every day and would drown the real changes.
Label = Callable[[dict], tuple[str | None, str | None]]
TRACKED: dict[str, list[tuple[str, str, Label, tuple[str, ...]]]] = {
    "financials": [
        ("overdue_invoices", "overdue invoice", lambda i: (i.get("invoice_number"), i.get("contact")), ("amount_due",)),
        ("due_in_30_days", "invoice due soon", lambda i: (i.get("invoice_number"), i.get("contact")),
         ("amount_due", "due_date")),
        ("bills_due", "bill", lambda i: (i.get("reference"), i.get("supplier")), ("amount_due", "due_date")),
    ],
    "tasks": [
        ("overdue", "overdue task", lambda t: (t.get("name"), t.get("project")), ("due_on", "assignee")),
        ("due_soon", "task due soon", lambda t: (t.get("name"), t.get("project")), ("due_on", "assignee")),
    ],
    "communications": [
        ("threads", "thread", lambda t: (t.get("subject"), t.get("counterpart")), ("messages", "unread", "awaiting_reply")),
    ],
    "projects": [
        ("projects", "project", lambda p: (p.get("name"), p.get("client")),
         ("client", "archived", "open_tasks", "overdue_tasks", "outstanding_amount")),
    ],
}


def changes(kind: str, current: dict, previous: dict | None) -> Changes | None:
    """Compare a document's JSON with the previous version's; None when there is none.

    A body Sylo did not know about, now or then, is not compared: its items did not come or go.
    """
    if previous is None:
        return None
    new, changed, removed = [], [], []
    for section, path, item, label, fields in _tracked(kind):
        if not (_known(current, section) and _known(previous, section)):
            continue
        before = {entry["id"]: entry for entry in _get(previous, section, path)}
        after = {entry["id"]: entry for entry in _get(current, section, path)}
        new += [_change(item, i, after[i], label) for i in after if i not in before]
        removed += [_change(item, i, before[i], label) for i in before if i not in after]
        for item_id in after.keys() & before.keys():
            diffs = [ChangedField(field=f, before=_value(f, before[item_id].get(f)), after=_value(f, after[item_id].get(f)))
                     for f in fields if before[item_id].get(f) != after[item_id].get(f)]
            if diffs:
                changed.append(_change(item, item_id, after[item_id], label, diffs))
    listed = [sorted(part, key=_order)[:MAX_LISTED] for part in (new, changed, removed)]
    more = len(new) + len(changed) + len(removed) - sum(len(part) for part in listed)
    return Changes(since=previous.get("as_of"), new=listed[0], changed=listed[1], removed=listed[2], more=more)


def _change(item: str, item_id: str, entry: dict, label: Label, fields: list[ChangedField] | None = None) -> Change:
    name, context = label(entry)
    return Change(item=item, id=item_id, name=name, context=context, fields=fields or [])


def _value(field: str, value: object) -> object:
    """A date field's value as a date (JSON holds it as text), anything else as it is."""
    if field in DATES and isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return value


def _order(change: Change) -> tuple:
    return change.item, change.name or "", change.context or "", change.id


def _tracked(kind: str):
    if kind == "all":
        return [(section, *entry) for section in ("financials", "tasks", "communications", "projects")
                for entry in TRACKED[section]]
    return [(None, *entry) for entry in TRACKED.get(kind, [])]


def _known(doc: dict, section: str | None) -> bool:
    body = doc.get(section, {}) if section else doc
    return not isinstance(body, dict) or (body.get("availability") or {}).get("status") != "unavailable"


def _get(doc: dict, section: str | None, path: str) -> list[dict]:
    body = doc.get(section, {}) if section else doc
    items = body.get(path) if isinstance(body, dict) else None
    return [item for item in items or [] if isinstance(item, dict) and "id" in item]
