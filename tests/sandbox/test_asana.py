"""The sandbox's Asana, reached through the Nango proxy, against `../shared/reference/providers.md` §2."""

from __future__ import annotations

import re
import pytest

from tests.sandbox.reference_client import apply_changes, asana_list, asana_pages, proxy_headers, utc

ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DATE = re.compile(r"^\d{4}-\d\d-\d\d$")


class Workspace:
    """One end user's Asana as a client sees it."""

    def __init__(self, running):
        self.running = running
        self.nango = running.nango
        self.user = running.user_ids()[0]
        self.headers = proxy_headers(running.connection(self.user, "asana"), "asana")

    def truth(self) -> dict:
        return self.running.admin.get(f"/users/{self.user}/truth").json()["asana"]

    def get(self, path: str, **params):
        return self.nango.get("/proxy/api/1.0" + path, params=params, headers=self.headers)

    def list(self, path: str, **params) -> list[dict]:
        return asana_list(self.nango, self.headers, path, params)

    def change(self, kind: str, count: int = 4) -> list[str]:
        return apply_changes(self.running.admin, kind, count, self.user)


def live_tasks(truth: dict, project: str | None = None) -> list[dict]:
    return [t for t in truth["tasks"] if not t["deleted"]
            and (project is None or project in [m["project"]["gid"] for m in t["memberships"]])]


def live_projects(truth: dict) -> list[dict]:
    return [p for p in truth["projects"] if not p["deleted"]]


def biggest_project(truth: dict) -> str:
    return max(live_projects(truth), key=lambda p: len(live_tasks(truth, p["gid"])))["gid"]


def iso_ms(ms: int) -> str:
    """Asana's timestamp format: ISO 8601 UTC with milliseconds and `Z` (§2.4)."""
    return utc(ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def errors_shape(response) -> list[dict]:
    """Asana's error body `{"errors": [{"message": ...}]}` (§2.6)."""
    body = response.json()
    assert set(body) == {"errors"}, body
    assert body["errors"] and all(isinstance(e["message"], str) for e in body["errors"])
    return body["errors"]


@pytest.fixture(scope="module")
def shared(module_sandbox):
    return Workspace(module_sandbox(users=1))


@pytest.fixture
def workspace(make_sandbox):
    return Workspace(make_sandbox(users=1))


# -- envelope and pagination (§2.2) --------------------------------------------------------------

def test_workspaces_are_compact_in_a_data_envelope(shared):
    body = shared.get("/workspaces").json()
    assert set(body) == {"data"}, "next_page appears only when limit is sent"
    assert body["data"] == [{"gid": shared.truth()["workspace"]["gid"], "resource_type": "workspace",
                             "name": shared.truth()["workspace"]["name"]}]
    assert shared.get("/workspaces", limit=100).json()["next_page"] is None


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_limit_outside_1_to_100_is_400(shared, limit):
    project = biggest_project(shared.truth())
    for path, params in (("/workspaces", {}), ("/tasks", {"project": project})):
        response = shared.get(path, limit=limit, **params)
        assert response.status_code == 400, (path, response.text)
        errors_shape(response)


def test_paging_tasks_with_opaque_offsets_is_complete(shared):
    truth = shared.truth()
    project = biggest_project(truth)
    pages = list(asana_pages(shared.nango, shared.headers, "/tasks", {"project": project, "limit": 3}))
    assert len(pages) > 2
    assert all(len(p["data"]) == 3 for p in pages[:-1])
    for page in pages[:-1]:
        offset = page["next_page"]["offset"]
        assert isinstance(offset, str) and not offset.isdigit()
        assert offset in page["next_page"]["path"]
        assert page["next_page"]["path"].startswith("/tasks?")
        assert page["next_page"]["uri"] == "https://app.asana.com/api/1.0" + page["next_page"]["path"]
    assert pages[-1]["next_page"] is None
    listed = [t["gid"] for p in pages for t in p["data"]]
    assert len(listed) == len(set(listed))
    assert set(listed) == {t["gid"] for t in live_tasks(truth, project)}


def test_tasks_without_limit_have_no_next_page(shared):
    body = shared.get("/tasks", project=biggest_project(shared.truth())).json()
    assert "next_page" not in body and body["data"]


def test_limit_1_and_100_are_accepted(shared):
    project = biggest_project(shared.truth())
    assert len(shared.get("/tasks", project=project, limit=1).json()["data"]) == 1
    assert shared.get("/tasks", project=project, limit=100).status_code == 200


def test_projects_of_the_workspace_page_completely(shared):
    truth = shared.truth()
    listed = shared.list(f"/workspaces/{truth['workspace']['gid']}/projects", archived="false", limit=2)
    assert {p["gid"] for p in listed} == {p["gid"] for p in live_projects(truth) if not p["archived"]}
    assert all(set(p) == {"gid", "resource_type", "name"} and p["resource_type"] == "project" for p in listed)


def test_projects_by_workspace_param_match_the_workspace_route(shared):
    gid = shared.truth()["workspace"]["gid"]
    assert shared.list("/projects", workspace=gid) == shared.list(f"/workspaces/{gid}/projects")


def test_project_tasks_route_lists_the_same_tasks(shared):
    project = biggest_project(shared.truth())
    assert shared.list(f"/projects/{project}/tasks", limit=7) == shared.list("/tasks", project=project)


def test_sections_of_a_project(shared):
    truth = shared.truth()
    project = biggest_project(truth)
    sections = shared.list(f"/projects/{project}/sections", limit=2)
    assert all(s["resource_type"] == "section" and s["gid"].isdigit() and s["name"] for s in sections)
    used = {m["section"]["gid"] for t in live_tasks(truth, project) for m in t["memberships"]
            if m["project"]["gid"] == project and m.get("section")}
    assert used and used <= {s["gid"] for s in sections}


# -- records (§2.1, §2.4) -------------------------------------------------------------------------

def test_tasks_are_compact_by_default(shared):
    project = biggest_project(shared.truth())
    for task in shared.get("/tasks", project=project, limit=10).json()["data"]:
        assert set(task) == {"gid", "resource_type", "name", "resource_subtype"}
        assert task["resource_type"] == "task" and task["gid"].isdigit()


def test_opt_fields_project_dotted_paths(shared):
    truth = shared.truth()
    project = biggest_project(truth)
    fields = "name,completed,due_on,modified_at,created_at,assignee.name,memberships.project.name,memberships.section.name"
    by_gid = {t["gid"]: t for t in truth["tasks"]}
    listed = shared.list("/tasks", project=project, opt_fields=fields)
    assert listed
    for task in listed:
        expected = by_gid[task["gid"]]
        assert "notes" not in task and "permalink_url" not in task, "only what was asked for, plus gid"
        assert task["resource_type"] == "task"
        for field in ("name", "completed", "due_on", "modified_at", "created_at"):
            assert task[field] == expected[field], field
        assert ISO_MS_Z.match(task["modified_at"]) and ISO_MS_Z.match(task["created_at"])
        assert task["due_on"] is None or DATE.match(task["due_on"])
        if expected["assignee"]:
            assert task["assignee"]["name"] == expected["assignee"]["name"]
            assert task["assignee"]["gid"] == expected["assignee"]["gid"]
            assert "email" not in task["assignee"]
        projects = [m["project"]["name"] for m in task["memberships"]]
        assert projects == [m["project"]["name"] for m in expected["memberships"]]
        assert all("name" in m["section"] for m in task["memberships"] if m.get("section"))


def test_get_one_task_is_the_full_record(shared):
    expected = live_tasks(shared.truth())[0]
    response = shared.get(f"/tasks/{expected['gid']}")
    assert response.status_code == 200
    assert response.json() == {"data": {k: v for k, v in expected.items() if k != "deleted"}}


def test_completed_since_now_keeps_only_incomplete_tasks(shared):
    truth = shared.truth()
    project = biggest_project(truth)
    listed = shared.list("/tasks", project=project, completed_since="now", opt_fields="completed")
    assert {t["gid"] for t in listed} == {t["gid"] for t in live_tasks(truth, project) if not t["completed"]}
    assert not any(t["completed"] for t in listed)


# -- the /tasks filter rule (§2.1) ---------------------------------------------------------------

@pytest.mark.parametrize("scope", ["none", "project_and_tag", "assignee_alone", "workspace_alone"])
def test_tasks_need_exactly_one_scope(shared, scope):
    truth = shared.truth()
    params = {"none": {},
              "project_and_tag": {"project": biggest_project(truth), "tag": "1200000000000001"},
              "assignee_alone": {"assignee": "me"},
              "workspace_alone": {"workspace": truth["workspace"]["gid"]}}[scope]
    response = shared.get("/tasks", limit=10, **params)
    assert response.status_code == 400
    errors_shape(response)


def test_tasks_by_assignee_and_workspace(shared):
    truth = shared.truth()
    assignee = next(t["assignee"]["gid"] for t in live_tasks(truth) if t["assignee"])
    listed = shared.list("/tasks", assignee=assignee, workspace=truth["workspace"]["gid"])
    assert {t["gid"] for t in listed} == {t["gid"] for t in live_tasks(truth)
                                          if t["assignee"] and t["assignee"]["gid"] == assignee}


def test_tasks_by_section(shared):
    truth = shared.truth()
    sections = [m["section"]["gid"] for t in live_tasks(truth) for m in t["memberships"] if m.get("section")]
    section = max(set(sections), key=sections.count)
    listed = shared.list("/tasks", section=section)
    assert {t["gid"] for t in listed} == {t["gid"] for t in live_tasks(truth)
                                          if section in [m["section"]["gid"] for m in t["memberships"] if m.get("section")]}


# -- incremental sync and deletions (§2.3) --------------------------------------------------------

def test_modified_since_returns_changed_tasks_and_not_unchanged_ones(workspace):
    since = iso_ms(workspace.running.admin.get("").json()["clock"])  # the batch's changes come after this
    changed = workspace.change("asana.complete_task") + workspace.change("asana.rename")
    assert changed
    truth = workspace.truth()
    seen = set()
    for project in live_projects(truth):
        listed = workspace.list("/tasks", project=project["gid"], modified_since=since, opt_fields="modified_at")
        assert all(t["modified_at"] >= since for t in listed)
        seen |= {t["gid"] for t in listed}
    assert set(changed) <= seen
    untouched = {t["gid"] for t in live_tasks(truth) if t["modified_at"] < since}
    assert untouched and not untouched & seen


def test_modified_since_is_inclusive(shared):
    truth = shared.truth()
    project = biggest_project(truth)
    tasks = sorted(live_tasks(truth, project), key=lambda t: t["modified_at"])
    boundary = tasks[len(tasks) // 2]["modified_at"]
    listed = shared.list("/tasks", project=project, modified_since=boundary)
    assert {t["gid"] for t in listed} == {t["gid"] for t in tasks if t["modified_at"] >= boundary}


def test_deleted_tasks_vanish_and_get_is_404(workspace):
    before = workspace.truth()
    deleted = workspace.change("asana.delete_task", count=2)
    assert deleted
    projects = {m["project"]["gid"] for t in before["tasks"] if t["gid"] in deleted for m in t["memberships"]}
    for project in projects:
        assert not set(deleted) & {t["gid"] for t in workspace.list("/tasks", project=project)}
    for gid in deleted:
        response = workspace.get(f"/tasks/{gid}")
        assert response.status_code == 404
        errors_shape(response)
    assert all(t["deleted"] for t in workspace.truth()["tasks"] if t["gid"] in deleted)


def test_unknown_task_is_404(shared):
    response = shared.get("/tasks/1999999999999999")
    assert response.status_code == 404
    errors_shape(response)


# -- rate limit (§2.5) ---------------------------------------------------------------------------

def test_rate_limit_is_429_with_retry_after(make_sandbox):
    limited = Workspace(make_sandbox(users=1, limits={"asana_per_minute": 3}))
    assert [limited.get("/workspaces").status_code for _ in range(3)] == [200, 200, 200]
    response = limited.get("/workspaces")
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 60
    errors_shape(response)
