"""Asana API 1.0 behind the proxy (`/api/1.0/...`), per reference/providers.md §2.

Envelope `{"data": ..., "next_page": ...}` (`next_page` only when `limit` was sent); compact
records unless `opt_fields` asks for more; `limit` 1..100; opaque offsets that expire; the
`/tasks` filter rule; `modified_since` with >= semantics; errors as `{"errors": [{"message"}]}`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import replace
from datetime import datetime, timezone
from urllib.parse import parse_qsl

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from sandbox.http import Reply, Upstream
from sandbox.providers import asana_events
from sandbox.providers.asana_errors import AsanaError, rate_limited, server_error, unknown  # noqa: F401 (the proxy's)
from sandbox.stores.asana import Task, Workspace

ROUTES = Map([
    Rule("/api/1.0/users/me", endpoint="me"),
    Rule("/api/1.0/workspaces", endpoint="workspaces"),
    Rule("/api/1.0/workspaces/<gid>/projects", endpoint="workspace_projects"),
    Rule("/api/1.0/workspaces/<gid>/users", endpoint="workspace_users"),
    Rule("/api/1.0/projects", endpoint="projects"),
    Rule("/api/1.0/projects/<gid>", endpoint="project"),
    Rule("/api/1.0/projects/<gid>/sections", endpoint="sections"),
    Rule("/api/1.0/projects/<gid>/tasks", endpoint="project_tasks"),
    Rule("/api/1.0/sections/<gid>/tasks", endpoint="section_tasks"),
    Rule("/api/1.0/tasks", endpoint="tasks"),
    Rule("/api/1.0/tasks/<gid>", endpoint="task"),
    Rule("/api/1.0/events", endpoint="events"),
    Rule("/api/1.0/projects/<gid>/events", endpoint="events"),
    Rule("/api/1.0/tasks/<gid>/events", endpoint="events"),
    Rule("/api/1.0/batch", endpoint="batch", methods=["POST"]),
], strict_slashes=False)
BATCH_LIMIT = 10

COMPACT = {"task": ("name", "resource_subtype"), "project": ("name",), "section": ("name",),
           "workspace": ("name",), "user": ("name",)}
OFFSET_TTL_S = 3600


def dispatch(up: Upstream) -> Reply:
    try:
        endpoint, values = ROUTES.bind("app.asana.com").match(up.path, method=up.method)
    except (NotFound, MethodNotAllowed):
        return Reply(404, {"errors": [{"message": "No matching route for request"}]})
    if endpoint == "batch":
        return batch(up)
    if up.method != "GET":
        return Reply(404, {"errors": [{"message": "No matching route for request"}]})
    verdict = up.limits.asana(up.connection.connection_id)
    if verdict.retry_after is not None:
        return rate_limited(max(1, verdict.seconds))
    with up.limits.concurrency.slot(f"asana:{up.connection.connection_id}", up.limits.config.asana_concurrent_reads) as ok:
        if not ok and up.limits.config.enabled:
            return rate_limited(1)
        try:
            with up.account.lock:
                return HANDLERS[endpoint](up, up.account.workspace, **values)
        except AsanaError as exc:
            return exc.reply


def batch(up: Upstream) -> Reply:
    """`POST /batch`: up to ten GET actions in one request; each counts against the rate limit."""
    try:
        actions = up.json()["data"]["actions"]
        if not isinstance(actions, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return AsanaError(400, "data.actions: Missing input").reply
    if not 1 <= len(actions) <= BATCH_LIMIT:
        return AsanaError(400, f"data.actions: Must contain between 1 and {BATCH_LIMIT} actions").reply
    results = []
    for action in actions:
        if not isinstance(action, dict) or str(action.get("method", "")).lower() != "get" or \
                not str(action.get("relative_path", "")).startswith("/"):
            reply = AsanaError(400, "Only GET actions with a relative_path are supported here").reply
        else:
            path, _, query = action["relative_path"].partition("?")
            reply = dispatch(replace(up, method="GET", path="/api/1.0" + path,
                                     args=MultiDict(parse_qsl(query, keep_blank_values=True)), body=b""))
        results.append({"status_code": reply.status, "headers": dict(reply.headers), "body": reply.data})
    return Reply(200, {"data": results})


# -- projection and paging ---------------------------------------------------------------------------


def _opt_fields(up: Upstream) -> list[str] | None:
    raw = up.args.get("opt_fields")
    return [f.strip() for f in raw.split(",") if f.strip()] if raw else None


def project_fields(record: dict, kind: str, fields: list[str] | None) -> dict:
    """Keep gid and resource_type plus the requested (possibly dotted) fields."""
    wanted = fields if fields is not None else list(COMPACT[kind])
    out = {"gid": record["gid"], "resource_type": record["resource_type"]}
    for field in wanted:
        head, _, rest = field.partition(".")
        if head not in record:
            raise AsanaError(400, f"opt_fields: Unknown field: {field}")
        out[head] = _project_value(record[head], rest, out.get(head))
    return out


def _project_value(value, rest: str, existing):
    if not rest or value is None:
        return value if not isinstance(value, (dict, list)) or rest else _compact_only(value)
    if isinstance(value, list):
        merged = existing or [None] * len(value)
        return [_project_value(v, rest, m) for v, m in zip(value, merged)]
    head, _, deeper = rest.partition(".")
    out = dict(existing or {"gid": value.get("gid"), "resource_type": value.get("resource_type")})
    if head not in value:
        raise AsanaError(400, f"opt_fields: Unknown field: {rest}")
    out[head] = _project_value(value[head], deeper, out.get(head))
    return {k: v for k, v in out.items() if v is not None or k == head}


def _compact_only(value):
    if isinstance(value, list):
        return [_compact_only(v) for v in value]
    if isinstance(value, dict) and "gid" in value:
        return {"gid": value["gid"], "resource_type": value.get("resource_type")}
    return value


def _limit(up: Upstream) -> int | None:
    raw = up.args.get("limit")
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise AsanaError(400, "limit: Must be between 1 and 100")
    return int(raw)


def _scope(up: Upstream) -> str:
    keep = sorted((k, v) for k, v in up.args.items(multi=True) if k not in ("offset", "limit"))
    return hashlib.sha256(json.dumps([up.path, keep]).encode()).hexdigest()[:12]


def _encode_offset(up: Upstream, position: int) -> str:
    payload = json.dumps({"o": position, "s": _scope(up), "t": int(time.time())}, separators=(",", ":")).encode()
    body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.{body}.{hashlib.sha256(payload).hexdigest()[:16]}"


def decode_offset(up: Upstream, token: str) -> int:
    try:
        _, body, sig = token.split(".")
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        data = json.loads(payload)
        if hashlib.sha256(payload).hexdigest()[:16] != sig or data["s"] != _scope(up):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise AsanaError(400, "offset: Your pagination token is invalid.") from None
    if time.time() - data["t"] > OFFSET_TTL_S:
        raise AsanaError(400, "offset: Your pagination token has expired.")
    return int(data["o"])


def listing(up: Upstream, records: list[dict], kind: str) -> Reply:
    fields = _opt_fields(up)
    limit = _limit(up)
    start = decode_offset(up, up.args["offset"]) if up.args.get("offset") else 0
    if limit is None:
        return Reply(200, {"data": [project_fields(r, kind, fields) for r in records[start:]]})
    page = records[start:start + limit]
    next_page = None
    if start + limit < len(records):
        offset = _encode_offset(up, start + limit)
        query = "&".join(f"{k}={v}" for k, v in up.args.items(multi=True) if k != "offset")
        path = f"{up.path.removeprefix('/api/1.0')}?{query}&offset={offset}"
        next_page = {"offset": offset, "path": path, "uri": f"https://app.asana.com/api/1.0{path}"}
    return Reply(200, {"data": [project_fields(r, kind, fields) for r in page], "next_page": next_page})


def single(up: Upstream, record: dict, kind: str) -> Reply:
    fields = _opt_fields(up)
    return Reply(200, {"data": record if fields is None else project_fields(record, kind, fields)})


# -- endpoints ---------------------------------------------------------------------------------------


def me(up: Upstream, ws: Workspace) -> Reply:
    return single(up, ws.user_json(next(iter(ws.users.values()))), "user")


def workspaces(up: Upstream, ws: Workspace) -> Reply:
    return listing(up, [ws.workspace_json()], "workspace")


def _projects(up: Upstream, ws: Workspace) -> list[dict]:
    archived = up.args.get("archived")
    return [ws.project_json(p) for p in ws.projects.values()
            if archived is None or p.archived == (archived == "true")]


def workspace_projects(up: Upstream, ws: Workspace, gid: str) -> Reply:
    if gid != ws.gid:
        raise unknown(gid)
    return listing(up, _projects(up, ws), "project")


def workspace_users(up: Upstream, ws: Workspace, gid: str) -> Reply:
    if gid != ws.gid:
        raise unknown(gid)
    return listing(up, [ws.user_json(u) for u in ws.users.values()], "user")


def projects(up: Upstream, ws: Workspace) -> Reply:
    if up.args.get("workspace") != ws.gid and not up.args.get("team"):
        raise AsanaError(400, "workspace: Missing input")
    return listing(up, _projects(up, ws), "project")


def project(up: Upstream, ws: Workspace, gid: str) -> Reply:
    if gid not in ws.projects:
        raise unknown(gid)
    return single(up, ws.project_json(ws.projects[gid]), "project")


def sections(up: Upstream, ws: Workspace, gid: str) -> Reply:
    if gid not in ws.projects:
        raise unknown(gid)
    return listing(up, [ws.section_json(ws.sections[s]) for s in ws.projects[gid].section_gids], "section")


def _parse_time(name: str, raw: str) -> int:
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise AsanaError(400, f"{name}: Not a valid date-time: {raw}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp() * 1000)


def _task_filter(up: Upstream):
    modified = _parse_time("modified_since", up.args["modified_since"]) if up.args.get("modified_since") else None
    raw_completed = up.args.get("completed_since")
    completed = None
    if raw_completed == "now":
        completed = up.clock_ms
    elif raw_completed:
        completed = _parse_time("completed_since", raw_completed)

    def keep(task: Task) -> bool:
        if modified is not None and task.modified_ms < modified:
            return False
        if completed is not None and task.completed and (task.completed_ms or 0) < completed:
            return False
        return True

    return keep


def _tasks_listing(up: Upstream, ws: Workspace, tasks: list[Task]) -> Reply:
    keep = _task_filter(up)
    return listing(up, [ws.task_json(t) for t in tasks if keep(t)], "task")


def project_tasks(up: Upstream, ws: Workspace, gid: str) -> Reply:
    if gid not in ws.projects:
        raise unknown(gid)
    if up.args.get("modified_since"):
        raise AsanaError(400, "modified_since: Unknown parameter for this endpoint")
    return _tasks_listing(up, ws, [ws.tasks[t] for t in ws.projects[gid].task_gids])


def section_tasks(up: Upstream, ws: Workspace, gid: str) -> Reply:
    if gid not in ws.sections or ws.sections[gid].project_gid not in ws.projects:
        raise unknown(gid)
    project_gid = ws.sections[gid].project_gid
    return _tasks_listing(up, ws, [ws.tasks[t] for t in ws.projects[project_gid].task_gids
                                   if ws.tasks[t].section_gid == gid])


def tasks(up: Upstream, ws: Workspace) -> Reply:
    scopes = [k for k in ("project", "section", "tag") if up.args.get(k)]
    by_assignee = bool(up.args.get("assignee")) and bool(up.args.get("workspace"))
    if len(scopes) + by_assignee != 1:
        raise AsanaError(400, "Must specify exactly one of project, tag, or assignee + workspace")
    if scopes == ["project"]:
        return _project_scope(up, ws)
    if scopes == ["section"]:
        return section_tasks(up, ws, up.args["section"])
    if scopes == ["tag"]:
        return _tasks_listing(up, ws, [])
    assignee = up.args["assignee"]
    if up.args["workspace"] != ws.gid:
        raise unknown(up.args["workspace"])
    gid = next(iter(ws.users)) if assignee == "me" else assignee
    return _tasks_listing(up, ws, [t for t in ws.tasks.values() if t.assignee_gid == gid])


def _project_scope(up: Upstream, ws: Workspace) -> Reply:
    gid = up.args["project"]
    if gid not in ws.projects:
        raise unknown(gid)
    return _tasks_listing(up, ws, [ws.tasks[t] for t in ws.projects[gid].task_gids])


def task(up: Upstream, ws: Workspace, gid: str) -> Reply:
    if gid not in ws.tasks:
        raise unknown(gid)
    return single(up, ws.task_json(ws.tasks[gid]), "task")


HANDLERS = {
    "me": me, "workspaces": workspaces, "workspace_projects": workspace_projects,
    "workspace_users": workspace_users, "projects": projects, "project": project, "sections": sections,
    "project_tasks": project_tasks, "section_tasks": section_tasks, "tasks": tasks, "task": task,
    "events": asana_events.events,
}


def corrupt(data: dict) -> dict:
    """Give the first record wrong types (keeping its gid); in a Batch answer, the first non-empty one."""
    records = data.get("data")
    if isinstance(records, list) and records and isinstance(records[0], dict) and "status_code" in records[0]:
        bodies = [r["body"] for r in records if isinstance(r.get("body"), dict) and r["body"].get("data")]
        if bodies:
            corrupt(bodies[0])
        return data
    record = records[0] if isinstance(records, list) and records else records
    if isinstance(record, dict) and "sync" in data:  # an events page: the event keeps its resource
        record["created_at"], record["action"] = 1234, ["maybe"]
    elif isinstance(record, dict):
        record["modified_at"] = 1234
        record["completed"] = "maybe"
    return data


def cursor_expires(up: Upstream) -> bool:
    """Asana's expiring cursors: the pagination offset and the events sync token."""
    return bool(up.args.get("offset")) or asana_events.presents_token(up)


def expired_cursor(up: Upstream) -> Reply:
    """Expire the cursor this call presents, as Asana may under load, and answer as Asana does."""
    if asana_events.presents_token(up):
        with up.account.lock:
            return asana_events.expire_presented(up)
    return AsanaError(400, "offset: Your pagination token has expired.").reply
