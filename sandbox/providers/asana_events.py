"""Asana's Events API behind the proxy: `GET /events?resource=<gid>&sync=<token>` (providers.md §2.3).

No token, or one that is unknown, expired (24 hours of the world's clock) or another stream's
→ 412 with a fresh token, which covers the stream from now on: the caller re-crawls and goes on
with it. A good token → up to 100 events after it, oldest first, the next token and `has_more`.
Projects and tasks can be subscribed to (goals do not exist here); a project's stream carries
the events of its tasks and their stories, which bubble up. `/projects/<gid>/events` and
`/tasks/<gid>/events` are the same streams.
"""

from __future__ import annotations

import re

from sandbox.http import Reply, Upstream
from sandbox.providers.asana_errors import AsanaError, unknown
from sandbox.stores.asana import Workspace
from sandbox.stores.asana_events import EVENTS_PER_CALL

# The 412 message, as in the OpenAPI's example for GET /events (Asana/openapi defs/asana_oas.yaml).
EXPIRED_MESSAGE = ("Sync token invalid or too old. If you are attempting to keep resources in sync, you must fetch "
                   "the full dataset for this query now and use the new sync token for the next sync.")
# opt_fields the OpenAPI lists for GET /events.
OPT_FIELDS = {"action", "change", "change.action", "change.added_value", "change.field", "change.new_value",
              "change.removed_value", "created_at", "parent", "parent.name", "resource", "resource.name", "type",
              "user", "user.name"}
_PATH_RESOURCE = re.compile(r"^/api/1\.0/(?:projects|tasks)/(?P<gid>[^/]+)/events/?$")


def events(up: Upstream, ws: Workspace, gid: str | None = None) -> Reply:
    """One call on a resource's event stream."""
    resource = _resource(up, gid)
    wanted = _opt_fields(up)
    log = ws.events
    token = log.redeem(up.args.get("sync"), resource, up.clock_ms)
    if token is None:
        if resource not in ws.projects and resource not in ws.tasks:
            raise unknown(resource)
        return expired(log.issue(resource, log.head, up.clock_ms))
    pending = log.after(resource, token.position)
    page, has_more = pending[:EVENTS_PER_CALL], len(pending) > EVENTS_PER_CALL
    position = page[-1].seq if has_more else log.head
    return Reply(200, {"data": [_project(event.json(), wanted) for event in page],
                       "sync": log.issue(resource, position, up.clock_ms), "has_more": has_more})


def expired(fresh_token: str) -> Reply:
    """Asana's 412: the error and a fresh token (OpenAPI: `errors[].message` and top-level `sync`)."""
    return Reply(412, {"errors": [{"message": EXPIRED_MESSAGE}], "sync": fresh_token})


def presents_token(up: Upstream) -> bool:
    return bool(up.args.get("sync")) and (up.path.rstrip("/").endswith("/api/1.0/events")
                                          or bool(_PATH_RESOURCE.match(up.path)))


def expire_presented(up: Upstream) -> Reply:
    """Expire the presented token early, as Asana may under load: 412 with a fresh one."""
    match = _PATH_RESOURCE.match(up.path)
    resource = _resource(up, match["gid"] if match else None)
    log = up.account.workspace.events
    log.revoke(up.args["sync"])
    return expired(log.issue(resource, log.head, up.clock_ms))


def _resource(up: Upstream, gid: str | None) -> str:
    resource = gid or up.args.get("resource")
    if not resource:
        raise AsanaError(400, "resource: Missing input")
    return resource


def _opt_fields(up: Upstream) -> set[str] | None:
    raw = up.args.get("opt_fields")
    if not raw:
        return None
    fields = {f.strip() for f in raw.split(",") if f.strip()}
    unknown_fields = sorted(fields - OPT_FIELDS)
    if unknown_fields:
        raise AsanaError(400, f"opt_fields: Unknown field: {unknown_fields[0]}")
    return {f.partition(".")[0] for f in fields}


def _project(event: dict, wanted: set[str] | None) -> dict:
    return event if wanted is None else {k: v for k, v in event.items() if k in wanted}
