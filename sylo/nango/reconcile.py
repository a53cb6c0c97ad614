"""Keep the app DB's view of connections in step with Nango's (the source of truth).

Webhooks may be lost (reference/nango.md §10), so this reconciliation runs on a timer too: every
difference becomes a connection event, which the sensor turns into partitions and runs.
"""

from __future__ import annotations

import logging

from sylo.nango.client import NangoClient
from sylo.appdb import AppDB, ConnectionEvent

log = logging.getLogger(__name__)


# Connection events after which a user's services should be synced at once.
SYNC_TRIGGERS = ("connected", "reconnected")


def reconcile_connections(appdb: AppDB, nango: NangoClient) -> list[ConnectionEvent]:
    """Record what changed in Nango since we last looked; connections of unknown users are ignored."""
    known = {user.id for user in appdb.list_users()}
    local = {(c.connection_id, c.integration): c for c in appdb.connections()}
    events = []
    for remote in nango.list_connections():
        user_id = remote.end_user_id
        if user_id not in known:
            if user_id:
                log.warning("Nango connection %s belongs to unknown user %r; create the user with `sylo users create`",
                            remote.connection_id, user_id)
            continue
        status = "needs_reauth" if remote.needs_reauth else "connected"
        previous = local.pop((remote.connection_id, remote.integration), None)
        if previous is not None and previous.status == status:
            continue
        kind = _kind(previous.status if previous else None, status)
        event = appdb.record_connection(user_id=user_id, integration=remote.integration,
                                        connection_id=remote.connection_id, status=status, kind=kind,
                                        source="reconcile")
        events.append(event)
    for (connection_id, integration), gone in local.items():
        if gone.status != "disconnected":
            events.append(appdb.record_connection(user_id=gone.user_id, integration=integration,
                                                  connection_id=connection_id, status="disconnected",
                                                  kind="disconnected", source="reconcile"))
    return [e for e in events if e is not None]


def _kind(before: str | None, after: str) -> str:
    if after == "needs_reauth":
        return "needs_reauth"
    return "reconnected" if before == "needs_reauth" else "connected"
