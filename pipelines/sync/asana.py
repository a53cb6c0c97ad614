"""Asana: projects refreshed every run, tasks by each project's events (reference/providers.md §2).

Each project keeps an Events API sync token: a run replays the project's events since then (ten
projects per Batch API request), re-reads the tasks changed, added or moved, and tombstones the
tasks deleted, so deletions land on the next run, not the next reconciliation. A project without a
token (new, or its token expired after 24 h) gets a token first, then is listed: in full the first
time, by `modified_since` (its own cursor, the newest `modified_at` seen in it) after that. Events
are delivered at most once, so a periodic id reconciliation still runs as the safety net.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from sylo.nango.client import ProviderError
from pipelines.sync.engine import BadData, SyncContext
from pipelines.warehouse import Batch, StreamState, Tombstones, row_hash

PROJECTS, TASKS = "asana.projects", "asana.tasks"
PROJECT_FIELDS = "name,archived,notes,owner.name,start_on,due_on,created_at,modified_at,permalink_url,workspace"
TASK_FIELDS = ("name,completed,completed_at,due_on,assignee.name,created_at,modified_at,permalink_url,"
               "memberships.project,memberships.section.name")
BATCH_SIZE = 10  # Asana's Batch API limit
POLL_QUERY = urlencode({"limit": 100, "opt_fields": TASK_FIELDS})  # the same for every poll: encode it once


def _iso(value: object) -> object:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 string, got {type(value).__name__}")
    return value


IsoTime = Annotated[datetime, BeforeValidator(_iso)]


class Compact(BaseModel):
    gid: str
    name: str | None = None


class Membership(BaseModel):
    project: Compact | None = None
    section: Compact | None = None


class AsanaProject(BaseModel):
    model_config = ConfigDict(extra="ignore")

    gid: str
    name: str
    archived: StrictBool
    notes: str | None = None
    owner: Compact | None = None
    start_on: date | None = None
    due_on: date | None = None
    created_at: IsoTime | None = None
    modified_at: IsoTime | None = None
    permalink_url: str | None = None
    workspace: Compact


class AsanaTask(BaseModel):
    model_config = ConfigDict(extra="ignore")

    gid: str
    name: str
    completed: StrictBool
    completed_at: IsoTime | None = None
    due_on: date | None = None
    assignee: Compact | None = None
    created_at: IsoTime | None = None
    modified_at: IsoTime
    permalink_url: str | None = None
    memberships: list[Membership] = Field(default_factory=list)


class EventResource(BaseModel):
    gid: str
    resource_type: str


class AsanaEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: str  # changed | added | removed | deleted | undeleted
    resource: EventResource


class TaskStamp(BaseModel):
    gid: str
    modified_at: IsoTime


def project_row(user_id: str, p: AsanaProject, now: datetime) -> dict:
    row = {"user_id": user_id, "id": p.gid, "workspace_id": p.workspace.gid, "name": p.name, "archived": p.archived,
           "notes": p.notes, "owner_name": p.owner.name if p.owner else None, "start_on": p.start_on,
           "due_on": p.due_on, "created_at": p.created_at, "modified_at": p.modified_at,
           "permalink_url": p.permalink_url}
    return {**row, "_hash": row_hash(row), "_synced_at": now, "_deleted_at": None}


def task_row(user_id: str, t: AsanaTask, project_id: str, now: datetime) -> dict:
    home = next((m for m in t.memberships if m.project), None)
    section = next((m.section.name for m in t.memberships if m.section and (not m.project or m.project.gid == project_id)), None)
    row = {"user_id": user_id, "id": t.gid, "project_id": home.project.gid if home else project_id, "name": t.name,
           "section_name": section, "assignee_id": t.assignee.gid if t.assignee else None,
           "assignee_name": t.assignee.name if t.assignee else None, "completed": t.completed,
           "completed_at": t.completed_at, "due_on": t.due_on, "created_at": t.created_at,
           "modified_at": t.modified_at, "permalink_url": t.permalink_url}
    return {**row, "_hash": row_hash(row), "_synced_at": now, "_deleted_at": None}


def _path(what: str, **params: Any) -> str:
    return f"/{what}?{urlencode(params)}"


def _events_path(project: str, token: str | None) -> str:
    return _path("events", resource=project, **({"sync": token} if token else {}))


class AsanaSource:
    service = "asana"
    streams = (PROJECTS, TASKS)

    def cursor_summary(self, ctx: SyncContext) -> str:
        cursor = ctx.stream(TASKS).cursor or {}
        stamps = [v for v in (cursor.get("projects") or {}).values() if v]
        return f"projects:{len(cursor.get('projects') or {})} newest:{max(stamps) if stamps else '-'}"

    def batches(self, ctx: SyncContext) -> Iterator[Batch]:
        projects, batch = self._projects(ctx)
        yield batch
        yield from self._tasks(ctx, projects)
        reconciled = (ctx.stream(TASKS).cursor or {}).get("reconciled_at")
        if reconciled and ctx.now() - datetime.fromisoformat(reconciled) >= ctx.settings.asana_reconcile_every:
            yield self._reconcile(ctx, projects)

    # -- projects: a full listing every run ---------------------------------------------------------

    def _projects(self, ctx: SyncContext) -> tuple[list[str], Batch]:
        """List every project; an unchanged listing (same bytes as last time) is not parsed again."""
        state = ctx.stream(PROJECTS)
        cursor = state.cursor or {}
        workspaces = cursor.get("workspaces")
        if not workspaces:  # a workspace is for life; ask once
            workspaces = [w.gid for w in self._list(ctx, "api/1.0/workspaces", {"limit": 100}, Compact, "workspaces")]
        pages, digest = self._listing(ctx, workspaces)
        now = ctx.now()
        state.last_full_sync_at = now
        if digest == cursor.get("digest") and cursor.get("projects") is not None:
            return list(cursor["projects"]), Batch(states=[state], pages=len(pages))
        projects = [ctx.parse(AsanaProject, raw, where="projects", key="gid") for page in pages for raw in page]
        listed = [p.gid for p in projects]
        held = cursor.get("projects")
        if held is None:  # no record of last run's listing: ask the warehouse what we hold
            held = list(ctx.warehouse.live_ids(ctx.user_id, "asana_projects"))
        removed = sorted(set(held) - set(listed))
        state.cursor = {"workspaces": workspaces, "projects": sorted(listed), "digest": digest}
        batch = Batch(rows={"asana_projects": [project_row(ctx.user_id, p, now) for p in projects]},
                      tombstones=[Tombstones("asana_projects", removed),
                                  Tombstones("asana_tasks", removed, column="project_id")],
                      states=[state], pages=len(pages))
        return listed, batch

    def _listing(self, ctx: SyncContext, workspaces: list[str]) -> tuple[list[list], str]:
        """Every page of every workspace's project listing, and one digest over all their bytes."""
        pages, digests = [], []
        for workspace in workspaces:
            offset = None
            while True:
                params = {"limit": 100, "opt_fields": PROJECT_FIELDS, **({"offset": offset} if offset else {})}
                body, digest = ctx.get_with_digest(f"api/1.0/workspaces/{workspace}/projects", params)
                if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                    raise BadData(f"asana project listing for user {ctx.user_id} has no 'data' list")
                pages.append(body["data"])
                digests.append(digest)
                offset = (body.get("next_page") or {}).get("offset")
                if not offset:
                    break
        return pages, hashlib.sha1("".join(digests).encode()).hexdigest()

    def _list(self, ctx: SyncContext, path: str, params: dict, model: type[BaseModel], what: str) -> list:
        items, offset = [], None
        while True:
            body = ctx.get(path, {**params, **({"offset": offset} if offset else {})})
            items += ctx.parse_list(model, body, "data", where=what, key="gid")
            offset = (body.get("next_page") or {}).get("offset")
            if not offset:
                return items

    # -- tasks: events per project, else modified_since; ten projects per request -----------------

    def _tasks(self, ctx: SyncContext, projects: list[str]) -> Iterator[Batch]:
        """Each project with an events token replays its events; the others are listed (in full the
        first time, by modified_since after that) and get a token first, so nothing between the
        token and the listing is missed."""
        state = ctx.stream(TASKS)
        cursor = state.cursor or {}
        known: dict[str, str | None] = dict(cursor.get("projects") or {})
        tokens: dict[str, str] = {g: s for g, s in (cursor.get("events") or {}).items() if g in projects}
        stamps = {gid: known.get(gid) for gid in projects}  # projects gone upstream drop out of the cursor
        changed, deleted, expired = self._replay(ctx, [g for g in projects if g in known and g in tokens], tokens)
        listed = [g for g in projects if g not in known or g not in tokens or g in expired]
        tokens.update(self._fresh_tokens(ctx, [g for g in listed if g not in expired]))

        def save() -> StreamState:
            state.cursor = {"projects": {g: stamps[g] for g in projects if g in done or g in known},
                            "events": {g: tokens[g] for g in projects if g in tokens},
                            "reconciled_at": cursor.get("reconciled_at")}
            return state

        done: set[str] = set(projects) - set(listed)
        if changed or deleted:
            rows, missing = self._fetch_tasks(ctx, sorted(changed - deleted))
            for row in rows:
                home = row["project_id"]
                if home in stamps:
                    stamps[home] = _newest([row["modified_at"]], stamps[home])
            yield Batch(rows={"asana_tasks": rows}, tombstones=[Tombstones("asana_tasks", sorted(deleted | missing))],
                        states=[save()])
        paths = {gid: self._poll_path(ctx, gid, known.get(gid)) for gid in listed}
        for finished, raws in self._poll(ctx, paths):
            now = ctx.now()
            rows_by_id: dict[str, dict] = {}
            for gid in finished:
                tasks = [ctx.parse(AsanaTask, raw, where=f"tasks of project {gid}", key="gid") for raw in raws[gid]]
                stamps[gid] = _newest([t.modified_at for t in tasks], stamps[gid])
                for task in tasks:
                    rows_by_id.setdefault(task.gid, task_row(ctx.user_id, task, gid, now))
            done.update(finished)
            yield Batch(rows={"asana_tasks": list(rows_by_id.values())}, states=[save()])
        if not changed and not deleted and not listed:
            yield Batch(states=[save()], pages=0)
        if not cursor.get("reconciled_at"):
            # The first complete listing of every project is as good as a reconciliation.
            state.cursor = {**save().cursor, "projects": dict(stamps), "reconciled_at": ctx.now().isoformat()}
            yield Batch(states=[state], pages=0)

    def _replay(self, ctx: SyncContext, projects: list[str],
                tokens: dict[str, str]) -> tuple[set[str], set[str], set[str]]:
        """Each project's events since its token: tasks to re-read, tasks deleted, projects whose
        token expired (Asana answers 412 with a fresh one; those are listed instead)."""
        changed, deleted, expired = set(), set(), set()
        pending = {gid: tokens[gid] for gid in projects}
        while pending:
            gids = list(pending)
            answers = self._batch_answers(ctx, [_events_path(g, pending[g]) for g in gids], retry={412})
            pending = {}
            for gid, (status, body) in zip(gids, answers):
                fresh = (body or {}).get("sync") if isinstance(body, dict) else None
                if status == 412 and isinstance(fresh, str):
                    ctx.note(f"asana events token of project {gid} expired: project listed instead")
                    tokens[gid] = fresh
                    expired.add(gid)
                    continue
                body = _ok(ctx, f"/events?resource={gid}", status, body)
                for event in ctx.parse_list(AsanaEvent, body, "data", where=f"events of project {gid}", key="action"):
                    if event.resource.resource_type != "task":
                        continue
                    (deleted if event.action == "deleted" else changed).add(event.resource.gid)
                    if event.action == "undeleted":
                        deleted.discard(event.resource.gid)
                if not isinstance(fresh, str):
                    raise BadData(f"asana events of project {gid} for user {ctx.user_id} carry no sync token")
                tokens[gid] = fresh
                if body.get("has_more"):
                    pending[gid] = fresh
        return changed, deleted, expired

    def _fresh_tokens(self, ctx: SyncContext, projects: list[str]) -> dict[str, str]:
        """A sync token per project, asked before its listing: Asana answers 412 with one."""
        tokens = {}
        for gid, (status, body) in zip(projects, self._batch_answers(ctx, [_events_path(g, None) for g in projects],
                                                                      retry={412})):
            fresh = body.get("sync") if isinstance(body, dict) else None
            if status not in (200, 412) or not isinstance(fresh, str):
                _ok(ctx, f"/events?resource={gid}", status if status != 412 else 400, body)
            tokens[gid] = fresh
        return tokens

    def _poll_path(self, ctx: SyncContext, project: str, stamp: str | None) -> str:
        path = f"/tasks?project={project}&{POLL_QUERY}"
        if stamp:
            since = datetime.fromisoformat(stamp) - ctx.settings.overlap
            path += "&modified_since=" + since.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return path

    def _poll(self, ctx: SyncContext, paths: dict[str, str]) -> Iterator[tuple[list[str], dict[str, list]]]:
        """Page every project's listing in rounds; yield the projects each round finished.

        An expired offset (Asana's cursor) restarts that project's listing from the top.
        """
        pending = dict(paths)
        collected: dict[str, list] = {gid: [] for gid in paths}
        restarts: dict[str, int] = {}
        while pending:
            gids = list(pending)[:BATCH_SIZE * 5]
            answers = self._batch_answers(ctx, [pending[g] for g in gids])
            finished = []
            for gid, (status, body) in zip(gids, answers):
                if status == 400 and "offset=" in pending[gid] and restarts.get(gid, 0) < 3:
                    restarts[gid] = restarts.get(gid, 0) + 1
                    ctx.note(f"asana pagination offset expired in project {gid}: listing restarted")
                    collected[gid], pending[gid] = [], paths[gid]
                    continue
                body = _ok(ctx, pending[gid], status, body)
                collected[gid] += body.get("data") or []
                offset = (body.get("next_page") or {}).get("offset")
                if offset:
                    pending[gid] = f"{paths[gid]}&{urlencode({'offset': offset})}"
                else:
                    finished.append(gid)
                    del pending[gid]
            yield finished, {gid: collected.pop(gid) for gid in finished}

    def _batch_answers(self, ctx: SyncContext, paths: list[str],
                       retry: set[int] = frozenset()) -> list[tuple[int, dict | None]]:
        """GET many Asana paths, ten per Batch API request.

        Rate-limited or failed actions are retried one by one (with the usual backoff); 4xx
        answers come back as they are, for the caller to judge.
        """
        results: list[tuple[int, dict | None]] = []
        for start in range(0, len(paths), BATCH_SIZE):
            chunk = paths[start:start + BATCH_SIZE]
            body = ctx.request("POST", "api/1.0/batch",
                               json_body={"data": {"actions": [{"method": "get", "relative_path": p} for p in chunk]}})
            answers = body.get("data") if isinstance(body, dict) else None
            if not isinstance(answers, list) or len(answers) != len(chunk):
                raise BadData(f"asana batch response for user {ctx.user_id} does not match its {len(chunk)} actions")
            for path, answer in zip(chunk, answers):
                status = answer.get("status_code") if isinstance(answer, dict) else None
                payload = answer.get("body") if isinstance(answer, dict) else None
                if isinstance(status, int) and status < 429 and isinstance(payload, dict):
                    results.append((status, payload))
                else:
                    results.append(self._get_alone(ctx, path, retry))
        return results

    def _get_alone(self, ctx: SyncContext, path: str, expected: set[int]) -> tuple[int, dict | None]:
        """One action the Batch API could not answer, retried on its own; `expected` errors are answers."""
        try:
            return 200, ctx.get("api/1.0" + path)
        except ProviderError as exc:
            if exc.status not in expected:
                raise
            try:
                payload = json.loads(exc.body)
            except ValueError:
                payload = None
            return exc.status, payload if isinstance(payload, dict) else None

    # -- reconciliation -------------------------------------------------------------------------------

    def _reconcile(self, ctx: SyncContext, projects: list[str]) -> Batch:
        paths = {gid: _path("tasks", project=gid, limit=100, opt_fields="modified_at") for gid in projects}
        upstream: dict[str, tuple[set[str], datetime]] = {}
        for finished, raws in self._poll(ctx, paths):
            for gid in finished:
                for raw in raws[gid]:
                    stamp = ctx.parse(TaskStamp, raw, where=f"task ids of project {gid}", key="gid")
                    homes, _ = upstream.get(stamp.gid, (set(), stamp.modified_at))
                    upstream[stamp.gid] = (homes | {gid}, stamp.modified_at)
        local = ctx.warehouse.live_ids(ctx.user_id, "asana_tasks", ("project_id", "modified_at"))
        gone = set(local) - set(upstream)
        stale = [gid for gid, (homes, modified) in upstream.items()
                 if gid not in local or local[gid][0] not in homes or local[gid][1] < modified]
        rows, missing = self._fetch_tasks(ctx, stale)
        state = ctx.stream(TASKS)
        state.cursor = {**(state.cursor or {}), "reconciled_at": ctx.now().isoformat()}
        return Batch(rows={"asana_tasks": rows}, tombstones=[Tombstones("asana_tasks", sorted(gone | missing))],
                     states=[state])

    def _fetch_tasks(self, ctx: SyncContext, gids: list[str]) -> tuple[list[dict], set[str]]:
        """Read tasks by id (ten per request); those deleted meanwhile come back as missing."""
        answers = self._batch_answers(ctx, [_path(f"tasks/{gid}", opt_fields=TASK_FIELDS) for gid in gids])
        now = ctx.now()
        rows, missing = [], set()
        for gid, (status, body) in zip(gids, answers):
            if status == 404:
                missing.add(gid)
                continue
            body = _ok(ctx, f"/tasks/{gid}", status, body)
            rows.append(task_row(ctx.user_id, ctx.parse(AsanaTask, body.get("data"), where=f"task {gid}", key="gid"),
                                 "", now))
        return rows, missing


def _ok(ctx: SyncContext, path: str, status: int, body: dict | None) -> dict:
    if status != 200 or body is None:
        message = ((body or {}).get("errors") or [{}])[0].get("message", "") if isinstance(body, dict) else ""
        raise ProviderError(f"asana refused {path} for user {ctx.user_id} ({status}): {message}", status=status)
    return body


def _newest(stamps: list[datetime], previous: str | None) -> str | None:
    """The project's cursor: the newest modified_at seen in it (never moving backwards)."""
    candidates = stamps + ([datetime.fromisoformat(previous)] if previous else [])
    return max(candidates).isoformat(timespec="microseconds") if candidates else None
