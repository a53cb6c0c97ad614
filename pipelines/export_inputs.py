"""Which users' exported documents no longer match what they should show.

A user's documents are a function of their warehouse data, their sources' sync states, their
connections, the date (days overdue move daily) and the code that renders them. Each export's
manifest records a digest of those inputs; a user needs publishing when the digest differs. So a
run that synced data but failed to export it is caught by the next run, whatever that run syncs.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from pipelines.warehouse import Warehouse
from sylo.clock import as_utc
from sylo.services import SERVICES

CHUNK = 500  # users per query


def table_versions(warehouse: Warehouse, user_ids: list[str]) -> dict[str, dict[str, tuple]]:
    """Per user and raw table: (live rows, all rows, last change, last tombstone)."""
    versions: dict[str, dict[str, tuple]] = {u: {} for u in user_ids}
    tables = tuple(t.name for s in SERVICES for t in s.tables)
    for start in range(0, len(user_ids), CHUNK):
        chunk = {"user_ids": user_ids[start:start + CHUNK]}
        for user_id, table, live, rows, changed, deleted in warehouse.query(
                warehouse.sql.render("table_versions", tables=tables)[0], chunk):
            versions[user_id][table] = (live, rows, str(as_utc(changed)), str(as_utc(deleted)))
    return versions


def export_inputs(warehouse: Warehouse, versions: dict[str, dict[str, tuple]], *, as_of: datetime,
                  stale_after: timedelta, connections: dict[str, dict[str, str]], code: str) -> dict[str, str]:
    """A digest per user of everything their documents are built from (`versions` from table_versions)."""
    user_ids = list(versions)
    inputs: dict[str, dict] = {u: {"date": as_of.date().isoformat(), "code": code, "tables": versions[u],
                                   "connections": sorted((connections.get(u) or {}).items()), "sources": {}}
                               for u in user_ids}
    for start in range(0, len(user_ids), CHUNK):
        chunk = {"user_ids": user_ids[start:start + CHUNK]}
        for user_id, service, success, error, blocked, _ in warehouse.query(
                warehouse.sql.render("doc_freshness")[0], chunk):
            success, blocked = as_utc(success), as_utc(blocked)
            inputs[user_id]["sources"][service] = [
                success is None, success is not None and as_of - success > stale_after, error,
                str(blocked) if blocked and blocked > as_of else None]
    return {u: hashlib.sha256(json.dumps(v, sort_keys=True).encode()).hexdigest() for u, v in inputs.items()}
