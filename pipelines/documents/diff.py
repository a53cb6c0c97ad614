"""What changed since a document's previous version, and whether anything changed at all.

A user's documents are rewritten only when their fingerprint changes: the data, the stale or
error state of a source, or the templates. Sync times alone do not count, so a sync that finds
nothing new leaves every file (and its ETag) as it was.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from pipelines.documents.schema import Changes, Header

MAX_LISTED = 25


def fingerprint(docs: dict[str, Header], templates: str) -> str:
    payload = {kind: _stable(doc) for kind, doc in sorted(docs.items())}
    text = json.dumps(payload, sort_keys=True, default=str) + templates
    return hashlib.sha256(text.encode()).hexdigest()


def _stable(doc: Header) -> dict:
    data = doc.model_dump(mode="json", exclude={"as_of", "changes"})
    for source in data["freshness"]:
        source.pop("last_success_at")
    return data


# Per tracked list: how to name an item and which fields count as a change. Days overdue and
# the like move every day and would drown the real changes.
Label = Callable[[dict], str]
TRACKED: dict[str, list[tuple[str, str, Label, tuple[str, ...]]]] = {
    "financials": [
        ("overdue_invoices", "overdue invoice",
         lambda i: f"{i.get('invoice_number') or i['id']} ({i.get('contact')})", ("amount_due",)),
        ("due_in_30_days", "invoice due soon",
         lambda i: f"{i.get('invoice_number') or i['id']} ({i.get('contact')})", ("amount_due", "due_date")),
        ("bills_due", "bill", lambda i: f"{i.get('reference')} ({i.get('supplier')})", ("amount_due", "due_date")),
    ],
    "tasks": [
        ("overdue", "overdue task", lambda t: f"{t['name']} ({t.get('project')})", ("due_on", "assignee")),
        ("due_soon", "task due soon", lambda t: f"{t['name']} ({t.get('project')})", ("due_on", "assignee")),
    ],
    "communications": [
        ("threads", "thread", lambda t: f"{t.get('subject')} ({t.get('counterpart')})",
         ("messages", "unread", "awaiting_reply")),
    ],
    "projects": [
        ("projects", "project", lambda p: p["name"],
         ("client", "archived", "open_tasks", "overdue_tasks", "outstanding_amount")),
    ],
}


def changes(kind: str, current: dict, previous: dict | None) -> Changes | None:
    """Compare a document's JSON with the previous version's; None when there is none."""
    if previous is None:
        return None
    new, changed, removed = [], [], []
    for section, path, noun, label, fields in _tracked(kind):
        before = {item["id"]: item for item in _get(previous, section, path)}
        after = {item["id"]: item for item in _get(current, section, path)}
        new += [f"{noun}: {label(after[i])}" for i in after if i not in before]
        removed += [f"{noun}: {label(before[i])}" for i in before if i not in after]
        for item_id in after.keys() & before.keys():
            diffs = [f"{f} {before[item_id].get(f)} → {after[item_id].get(f)}"
                     for f in fields if before[item_id].get(f) != after[item_id].get(f)]
            if diffs:
                changed.append(f"{noun}: {label(after[item_id])}: {', '.join(diffs)}")
    listed = sorted(new)[:MAX_LISTED], sorted(changed)[:MAX_LISTED], sorted(removed)[:MAX_LISTED]
    more = len(new) + len(changed) + len(removed) - sum(len(part) for part in listed)
    return Changes(since=previous.get("as_of"), new=listed[0], changed=listed[1], removed=listed[2], more=more)


def _tracked(kind: str):
    if kind == "all":
        return [(section, *entry) for section in ("financials", "tasks", "communications", "projects")
                for entry in TRACKED[section]]
    return [(None, *entry) for entry in TRACKED.get(kind, [])]


def _get(doc: dict, section: str | None, path: str) -> list[dict]:
    body = doc.get(section, {}) if section else doc
    items = body.get(path) if isinstance(body, dict) else None
    return [item for item in items or [] if isinstance(item, dict) and "id" in item]
