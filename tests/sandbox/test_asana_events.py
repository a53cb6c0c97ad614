"""The sandbox's Asana Events API through the Nango proxy, against `../shared/reference/providers.md` §2.3.

`GET /events?resource=<project or task>&sync=<token>`: 412 with a fresh token when the token is
missing, unknown or older than 24 hours; up to 100 events per call with `has_more`; events of a
project's tasks (and their stories) bubble up to the project's stream; deletions are `deleted`,
moves out of a project `removed` with the project as parent.
"""

from __future__ import annotations

import re

import pytest

from tests.sandbox.reference_client import apply_changes, asana_events, asana_list, asana_sync_token
from tests.sandbox.test_asana import ISO_MS_Z, Workspace, errors_shape, iso_ms, live_tasks

EVENTS = "/proxy/api/1.0/events"
TOKEN = re.compile(r"^[0-9a-f]{32}$")
ACTIONS = {"changed", "added", "removed", "deleted", "undeleted"}
DAY_OF_BATCHES = 48  # change batches advance the world's clock 30 minutes each


class Streams(Workspace):
    """One end user's Asana event streams as a client sees them."""

    def projects(self) -> list[str]:
        return [p["gid"] for p in self.truth()["projects"] if not p["deleted"]]

    def call(self, resource: str | None, sync: str | None = None, path: str = EVENTS, **params):
        query = {k: v for k, v in {"resource": resource, "sync": sync, **params}.items() if v is not None}
        return self.nango.get(path, params=query, headers=self.headers)

    def start(self, resource: str) -> str:
        return asana_sync_token(self.nango, self.headers, resource)

    def read(self, resource: str, sync: str) -> list[dict]:
        return asana_events(self.nango, self.headers, resource, sync)[0]

    def change(self, kind: str, count: int = 3) -> list[str]:
        return apply_changes(self.running.admin, kind, count, self.user)

    def advance(self, batches: int) -> None:
        """Move the world's clock on by empty change batches, 30 minutes each."""
        for _ in range(batches):
            assert self.running.admin.post("/changes", json={"count": 0, "users": [self.user]}).status_code == 200

    def clock(self) -> int:
        return self.running.admin.get("").json()["clock"]

    def biggest(self) -> str:
        truth = self.truth()
        return max(self.projects(), key=lambda p: len(live_tasks(truth, p)))


def project_of(truth: dict, task_gid: str) -> str:
    task = next(t for t in truth["tasks"] if t["gid"] == task_gid)
    return task["memberships"][0]["project"]["gid"]


def of(events: list[dict], gid: str, action: str | None = None) -> list[dict]:
    return [e for e in events if e["resource"]["gid"] == gid and (action is None or e["action"] == action)]


@pytest.fixture
def streams(make_sandbox):
    return Streams(make_sandbox(users=1))


@pytest.fixture(scope="module")
def shared(module_sandbox):
    return Streams(module_sandbox(users=1))


# -- starting a stream: 412 with a fresh token ---------------------------------------------------

@pytest.mark.parametrize("sync", [None, "de4774f6915eae04714ca93bb2f5ee81", "another-streams"])
def test_without_a_valid_token_the_answer_is_412_with_a_fresh_token(shared, sync):
    project, other = shared.projects()[:2]
    if sync == "another-streams":
        sync = shared.start(other)
    response = shared.call(project, sync)
    assert response.status_code == 412
    body = response.json()
    assert set(body) == {"errors", "sync"}
    assert body["errors"][0]["message"].startswith("Sync token invalid or too old.")
    assert TOKEN.match(body["sync"])


def test_a_fresh_token_sees_nothing_until_something_changes_and_rereading_it_is_safe(shared):
    project = shared.projects()[0]
    sync = shared.start(project)
    first = shared.call(project, sync)
    assert first.status_code == 200
    assert first.json()["data"] == [] and first.json()["has_more"] is False and TOKEN.match(first.json()["sync"])
    assert shared.call(project, sync).json() == first.json()


@pytest.mark.parametrize(("params", "status"), [({}, 400), ({"resource": "1999999999999999"}, 404)])
def test_a_missing_or_unknown_resource_is_refused(shared, params, status):
    response = shared.nango.get(EVENTS, params=params, headers=shared.headers)
    assert response.status_code == status
    errors_shape(response)


def test_the_resource_path_form_is_the_same_stream(streams):
    project = streams.projects()[0]
    sync = streams.start(project)
    response = streams.call(None, sync, path=f"/proxy/api/1.0/projects/{project}/events")
    assert response.status_code == 200 and response.json()["data"] == []


# -- what a project's stream reports -------------------------------------------------------------

def test_a_deleted_task_leaves_the_listing_and_is_deleted_on_its_projects_stream(streams):
    before = streams.truth()
    tokens = {p: streams.start(p) for p in streams.projects()}
    deleted = streams.change("asana.delete_task", count=3)
    assert deleted
    for gid in deleted:
        project = project_of(before, gid)
        events = streams.read(project, tokens[project])
        [event] = of(events, gid, "deleted")
        assert event["parent"] is None and event["resource"]["resource_type"] == "task" and "change" not in event
        assert gid not in {t["gid"] for t in asana_list(streams.nango, streams.headers, "/tasks", {"project": project})}
        assert streams.nango.get(f"/proxy/api/1.0/tasks/{gid}", headers=streams.headers).status_code == 404
    for project, sync in tokens.items():
        assert {e["resource"]["gid"] for e in streams.read(project, sync) if e["action"] == "deleted"} == \
            {gid for gid in deleted if project_of(before, gid) == project}


def test_moving_a_task_out_of_a_project_is_removed_with_the_project_as_parent(streams):
    before = streams.truth()
    tokens = {p: streams.start(p) for p in streams.projects()}
    moved = streams.change("asana.move_project", count=2)
    assert moved
    after = streams.truth()
    for gid in moved:
        old, new = project_of(before, gid), project_of(after, gid)
        assert old != new
        [removed] = of(streams.read(old, tokens[old]), gid, "removed")
        assert removed["parent"]["gid"] == old and removed["parent"]["resource_type"] == "project"
        added = of(streams.read(new, tokens[new]), gid, "added")
        assert {(e["parent"]["resource_type"], e["parent"]["gid"]) for e in added} >= {("project", new)}
        assert gid not in {t["gid"] for t in live_tasks(after, old)}
    unchanged = {t["gid"]: t["modified_at"] for t in before["tasks"]}
    assert all(t["modified_at"] == unchanged[t["gid"]] for t in after["tasks"] if t["gid"] in moved), \
        "a move does not bump modified_at (§2.3), so only the events stream tells"


def test_a_new_task_is_added_to_its_project(streams):
    tokens = {p: streams.start(p) for p in streams.projects()}
    created = streams.change("asana.add_task", count=2)
    truth = streams.truth()
    for gid in created:
        project = project_of(truth, gid)
        added = of(streams.read(project, tokens[project]), gid, "added")
        assert {"project", "section"} == {e["parent"]["resource_type"] for e in added}
        assert [e["parent"]["gid"] for e in added if e["parent"]["resource_type"] == "project"] == [project]
        assert gid in {t["gid"] for t in asana_list(streams.nango, streams.headers, "/tasks", {"project": project})}


@pytest.mark.parametrize(("kind", "field"), [("asana.complete_task", "completed"), ("asana.reschedule", "due_on"),
                                             ("asana.rename", "name"), ("asana.reassign", "assignee")])
def test_an_edit_is_a_changed_event_naming_the_field_and_its_story_bubbles_up(streams, kind, field):
    tokens = {p: streams.start(p) for p in streams.projects()}
    edited = streams.change(kind, count=2)
    truth = streams.truth()
    by_gid = {t["gid"]: t for t in truth["tasks"]}
    for gid in set(edited):
        events = streams.read(project_of(truth, gid), tokens[project_of(truth, gid)])
        changed = of(events, gid, "changed")
        assert changed and all(e["change"]["field"] == field and e["change"]["action"] == "changed" for e in changed)
        assert all(e["parent"] is None for e in changed)
        if field == "assignee":
            assert changed[-1]["change"]["new_value"]["gid"] == by_gid[gid]["assignee"]["gid"]
        else:  # new_value only when the value is a resource (OpenAPI EventResponse)
            assert all("new_value" not in e["change"] for e in changed)
        stories = [e for e in events if e["resource"]["resource_type"] == "story" and e["parent"]["gid"] == gid]
        assert len(stories) == len(changed) and all(e["action"] == "added" for e in stories)


def test_every_event_has_asanas_shape_and_the_worlds_time(streams):
    project = streams.biggest()
    sync = streams.start(project)
    start = streams.clock()
    streams.running.admin.post("/changes", json={"fraction": 0.3, "users": [streams.user]})
    end = streams.clock()
    events = streams.read(project, sync)
    assert events
    for event in events:
        assert {"user", "created_at", "action", "resource", "parent"} <= set(event)
        assert event["action"] in ACTIONS
        assert event["resource"]["gid"].isdigit() and event["resource"]["resource_type"] in ("task", "story")
        assert event["user"]["resource_type"] == "user" and event["user"]["name"]
        assert ISO_MS_Z.match(event["created_at"]) and iso_ms(start) < event["created_at"] <= iso_ms(end)
        assert ("change" in event) == (event["action"] == "changed")
        assert (event["parent"] is not None) == (event["action"] in ("added", "removed"))
    assert [e["created_at"] for e in events] == sorted(e["created_at"] for e in events), "oldest first"


def test_a_task_stream_holds_only_that_tasks_events(streams):
    truth = streams.truth()
    project = max(streams.projects(), key=lambda p: len(live_tasks(truth, p)))
    tokens = {t["gid"]: streams.start(t["gid"]) for t in live_tasks(truth, project)}
    completed = set(streams.change("asana.complete_task", count=30)) & set(tokens)
    assert completed
    for gid, sync in tokens.items():
        events = streams.read(gid, sync)
        assert all(e["resource"]["gid"] == gid or e["parent"]["gid"] == gid for e in events)
        assert bool(of(events, gid, "changed")) == (gid in completed)


def test_deleting_a_project_deletes_its_tasks_on_its_stream(streams):
    tokens = {p: streams.start(p) for p in streams.projects()}
    before = streams.truth()
    [project] = streams.change("asana.delete_project", count=1)
    events = streams.read(project, tokens[project])
    assert {e["resource"]["gid"] for e in events if e["action"] == "deleted" and e["resource"]["resource_type"] == "task"} \
        == {t["gid"] for t in live_tasks(before, project)}
    assert events[-1]["action"] == "deleted" and events[-1]["resource"] == {
        "gid": project, "resource_type": "project", "name": next(p["name"] for p in before["projects"] if p["gid"] == project)}
    assert streams.call(project).status_code == 404, "no new stream on a deleted project"


# -- paging, expiry, limits ----------------------------------------------------------------------

def test_at_most_100_events_per_call_and_has_more_means_call_again(streams):
    truth = streams.truth()
    project = max(streams.projects(), key=lambda p: len(live_tasks(truth, p)))
    in_project = {t["gid"] for t in live_tasks(truth, project)}
    sync = streams.start(project)
    renamed = streams.change("asana.rename", count=700)
    expected = 2 * sum(gid in in_project for gid in renamed)  # the edit and its story
    assert expected > 100
    first = streams.call(project, sync).json()
    assert len(first["data"]) == 100 and first["has_more"] is True
    rest, last_token = asana_events(streams.nango, streams.headers, project, first["sync"])
    assert len(first["data"]) + len(rest) == expected
    assert streams.call(project, last_token).json()["data"] == []


def test_tokens_expire_after_24_hours_of_the_worlds_clock(streams):
    project = streams.projects()[0]
    old = streams.start(project)
    streams.advance(DAY_OF_BATCHES - 1)
    response = streams.call(project, old)
    assert response.status_code == 200
    newer = response.json()["sync"]
    streams.advance(2)
    expired = streams.call(project, old)
    assert expired.status_code == 412 and TOKEN.match(expired.json()["sync"])
    assert streams.call(project, newer).status_code == 200, "a token lives 24 hours from when it was handed out"


def test_admin_expires_one_streams_tokens_or_all(streams):
    first, second = streams.projects()[:2]
    tokens = {first: streams.start(first), second: streams.start(second)}
    admin = streams.running.admin
    response = admin.post(f"/users/{streams.user}/asana/expire-sync", json={"resource": first})
    assert response.status_code == 200 and response.json() == {"resource": first, "expired": 1}
    assert streams.call(first, tokens[first]).status_code == 412
    assert streams.call(second, tokens[second]).status_code == 200
    assert admin.post(f"/users/{streams.user}/asana/expire-sync").json()["expired"] >= 1
    assert streams.call(second, tokens[second]).status_code == 412
    fresh = streams.start(first)
    assert streams.call(first, fresh).status_code == 200
    assert admin.post(f"/users/{streams.user}/asana/expire-sync", json={"resource": 42}).status_code == 400


def test_an_injected_early_expiry_kills_the_token_and_hands_out_a_fresh_one(streams):
    project = streams.projects()[0]
    sync = streams.start(project)
    streams.running.admin.put("/faults", json={"scripted": [
        {"service": "asana", "kind": "expired_cursor", "path": "/events", "times": 1}]})
    response = streams.call(project, sync)
    assert response.status_code == 412
    assert streams.call(project, sync).status_code == 412, "the expired token stays dead"
    assert streams.call(project, response.json()["sync"]).status_code == 200


def test_a_bad_record_fault_breaks_an_events_types_but_keeps_its_resource(streams):
    project = streams.biggest()
    sync = streams.start(project)
    streams.change("asana.delete_task", count=20)
    expected = streams.call(project, sync).json()["data"][0]
    streams.running.admin.put("/faults", json={"scripted": [
        {"service": "asana", "kind": "bad_record", "path": "/events", "times": 1}]})
    broken = streams.call(project, sync).json()["data"][0]
    assert broken["resource"] == expected["resource"]
    assert not isinstance(broken["created_at"], str) and not isinstance(broken["action"], str)


def test_event_calls_count_against_the_rate_limit(make_sandbox):
    limited = Streams(make_sandbox(users=1, limits={"asana_per_minute": 3}))
    project = limited.projects()[0]
    sync = limited.start(project)
    assert [limited.call(project, sync).status_code for _ in range(2)] == [200, 200]
    response = limited.call(project, sync)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    errors_shape(response)


@pytest.mark.parametrize(("fields", "keys"), [("action,resource.name", {"action", "resource"}),
                                              ("created_at,user.name,parent", {"created_at", "user", "parent"})])
def test_opt_fields_keep_only_the_asked_fields(streams, fields, keys):
    project = streams.biggest()
    sync = streams.start(project)
    streams.running.admin.post("/changes", json={"fraction": 0.3, "users": [streams.user]})
    events = streams.call(project, sync, opt_fields=fields).json()["data"]
    assert events and all(set(e) == keys for e in events)
    response = streams.call(project, sync, opt_fields="action,bogus")
    assert response.status_code == 400
    errors_shape(response)
