"""Data checks on one user's replica: plain functions over the warehouse, no Dagster here.

`cursor_consistent` asks whether a stream's cursor agrees with the rows it claims to cover: a
cursor behind the newest row would replay work; a cursor ahead of it could have skipped some.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from pipelines.warehouse import Warehouse
from sylo.services import by_table


@dataclass
class CheckOutcome:
    table: str
    name: str
    passed: bool
    detail: str
    warn_only: bool = False
    metadata: dict = field(default_factory=dict)


def no_duplicate_ids(warehouse: Warehouse, user_id: str, table: str) -> CheckOutcome:
    (dupes,), = warehouse.query(warehouse.sql.render("check_duplicates", table=table)[0], {"user_id": user_id})
    return CheckOutcome(table, "no_duplicate_ids", dupes == 0, f"{dupes} duplicate ids", metadata={"duplicates": dupes})


def _newest(warehouse: Warehouse, user_id: str, table: str, column: str, group: str = "",
            live_only: bool = False) -> dict[str, object]:
    sql = warehouse.sql.render("newest_by", table=table, column=column, group=group, live_only=live_only)[0]
    return {grp: value for grp, value in warehouse.query(sql, {"user_id": user_id})}


def cursor_consistent(warehouse: Warehouse, user_id: str, table: str) -> CheckOutcome:
    service = by_table(table).name
    states = warehouse.load_state(user_id, service)
    check = CURSOR_CHECKS[table]
    return check(warehouse, user_id, table, states)


def _gmail(warehouse, user_id, table, states) -> CheckOutcome:
    cursor = (states.get("gmail.messages") and states["gmail.messages"].cursor) or {}
    newest = _newest(warehouse, user_id, table, "history_id", live_only=True).get("")
    if cursor.get("mode") != "history" or newest is None:
        return CheckOutcome(table, "cursor_consistent", True, "no history cursor yet", warn_only=True)
    ok = int(cursor["history_id"]) >= int(newest)
    return CheckOutcome(table, "cursor_consistent", ok, f"history cursor {cursor['history_id']}, newest row {newest}",
                        warn_only=True, metadata={"cursor": cursor["history_id"], "newest_row": str(newest)})


def _asana_tasks(warehouse, user_id, table, states) -> CheckOutcome:
    cursor = (states.get("asana.tasks") and states["asana.tasks"].cursor) or {}
    stamps = cursor.get("projects") or {}
    newest = _newest(warehouse, user_id, table, "modified_at", group="project_id", live_only=True)
    behind = [p for p, value in newest.items()
              if p in stamps and (stamps[p] is None or datetime.fromisoformat(stamps[p]) < value)]
    return CheckOutcome(table, "cursor_consistent", not behind,
                        f"{len(behind)} project cursors behind their newest task", metadata={"behind": len(behind)})


def _asana_projects(warehouse, user_id, table, states) -> CheckOutcome:
    cursor = (states.get("asana.tasks") and states["asana.tasks"].cursor) or {}
    live = set(warehouse.live_ids(user_id, table))
    polled = set(cursor.get("projects") or {})
    stray = polled - live
    return CheckOutcome(table, "cursor_consistent", not stray, f"{len(stray)} polled projects not held as live",
                        metadata={"stray": len(stray)})


def _xero(warehouse, user_id, table, states) -> CheckOutcome:
    stream = "xero." + table.split("_", 1)[1]
    cursor = (states.get(stream) and states[stream].cursor) or {}
    newest = _newest(warehouse, user_id, table, "updated_at").get("")
    if not cursor.get("updated_since") or newest is None:
        ok = newest is None
        return CheckOutcome(table, "cursor_consistent", ok, "no cursor" if ok else "rows but no cursor")
    ok = datetime.fromisoformat(cursor["updated_since"]) == newest
    return CheckOutcome(table, "cursor_consistent", ok, f"cursor {cursor['updated_since']}, newest row {newest}",
                        metadata={"cursor": cursor["updated_since"], "newest_row": str(newest)})


CURSOR_CHECKS = {"gmail_messages": _gmail, "asana_tasks": _asana_tasks, "asana_projects": _asana_projects,
                 "xero_contacts": _xero, "xero_invoices": _xero}


def fresh(warehouse: Warehouse, user_id: str, table: str, stale_after: timedelta,
          now: datetime | None = None) -> CheckOutcome:
    """Warn when the stream behind this table has not synced successfully within `stale_after`."""
    service = by_table(table).name
    states = warehouse.load_state(user_id, service)
    successes = [s.last_success_at for s in states.values() if s.last_success_at]
    now = now or datetime.now(timezone.utc)
    if not successes:
        return CheckOutcome(table, "fresh", False, f"{service} has never synced for this user", warn_only=True)
    oldest = min(successes)
    age = now - (oldest if oldest.tzinfo else oldest.replace(tzinfo=timezone.utc))
    hours = age.total_seconds() / 3600
    return CheckOutcome(table, "fresh", age <= stale_after,
                        f"last successful {service} sync {hours:.1f} h ago (stale after {stale_after.total_seconds() / 3600:g} h)",
                        warn_only=True, metadata={"hours_since_success": round(hours, 2)})


def run_checks(warehouse: Warehouse, user_id: str, tables: tuple[str, ...],
               stale_after: timedelta = timedelta(hours=6)) -> list[CheckOutcome]:
    found = [check(warehouse, user_id, table) for table in tables for check in (no_duplicate_ids, cursor_consistent)]
    return found + [fresh(warehouse, user_id, table, stale_after) for table in tables]
