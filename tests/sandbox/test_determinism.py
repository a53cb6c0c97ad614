"""Two sandboxes with the same arguments serve byte-identical data."""

from __future__ import annotations

import httpx

PAGES = {
    "google-mail": ["/gmail/v1/users/me/profile", "/gmail/v1/users/me/messages?maxResults=500",
                    "/gmail/v1/users/me/labels"],
    "asana": ["/api/1.0/workspaces?limit=100"],
    "xero": ["/connections", "/api.xro/2.0/Organisation", "/api.xro/2.0/Contacts?page=1&includeArchived=true",
             "/api.xro/2.0/Invoices?page=1&pageSize=1000"],
}


def crawl(running) -> list[bytes]:
    """Fetch every listing and every record of every user, through the proxy."""
    bodies = [running.nango.get("/connections").content]
    for user_id in sorted(running.user_ids()):
        for integration, paths in PAGES.items():
            headers = {"Connection-Id": running.connection(user_id, integration), "Provider-Config-Key": integration}
            if integration == "xero":
                tenant = running.nango.get(f"/connections/{headers['Connection-Id']}",
                                           params={"provider_config_key": "xero"}).json()["connection_config"]["tenant_id"]
                headers["Nango-Proxy-xero-tenant-id"] = tenant
            for path in paths:
                response = running.nango.get("/proxy" + path, headers=headers)
                assert response.status_code == 200, (path, response.text)
                bodies.append(response.content)
            if integration == "google-mail":
                for ref in running.nango.get("/proxy" + paths[1], headers=headers).json()["messages"]:
                    bodies.append(running.nango.get(f"/proxy/gmail/v1/users/me/messages/{ref['id']}?format=full",
                                                    headers=headers).content)
            if integration == "asana":
                workspace = running.nango.get("/proxy/api/1.0/workspaces", headers=headers).json()["data"][0]["gid"]
                projects = running.nango.get(f"/proxy/api/1.0/workspaces/{workspace}/projects", headers=headers).json()
                bodies.append(httpx.Response(200, json=projects).content)
                for project in projects["data"]:
                    bodies.append(running.nango.get(
                        f"/proxy/api/1.0/tasks?project={project['gid']}&opt_fields=name,notes,completed,completed_at,"
                        "due_on,assignee.name,modified_at,created_at,permalink_url,memberships.section.name",
                        headers=headers).content)
    return bodies


def test_same_arguments_serve_identical_bytes(make_sandbox):
    first = crawl(make_sandbox(seed=11, users=2))
    second = crawl(make_sandbox(seed=11, users=2))
    assert len(first) > 100
    assert first == second


def test_same_arguments_give_same_users_and_connections(make_sandbox):
    a, b = make_sandbox(seed=3, users=4), make_sandbox(seed=3, users=4)
    assert a.admin.get("").json()["users"] == b.admin.get("").json()["users"]


def test_different_seed_gives_a_different_world(make_sandbox):
    a, b = make_sandbox(seed=1, users=1), make_sandbox(seed=2, users=1)
    assert a.user_ids() != b.user_ids()
    assert crawl(a) != crawl(b)


def test_change_batches_are_deterministic(make_sandbox):
    a, b = make_sandbox(seed=5, users=2), make_sandbox(seed=5, users=2)
    for running in (a, b):
        for _ in range(3):
            running.admin.post("/changes", json={"fraction": 0.05})
    assert crawl(a) == crawl(b)
    user = a.user_ids()[0]
    assert a.admin.get(f"/users/{user}/truth").json() == b.admin.get(f"/users/{user}/truth").json()


def crawl_events(running) -> list[bytes]:
    """Start an event stream on every project, change the world, then read every stream: raw bodies."""
    bodies, streams = [], []
    for user_id in sorted(running.user_ids()):
        headers = {"Connection-Id": running.connection(user_id, "asana"), "Provider-Config-Key": "asana"}
        truth = running.admin.get(f"/users/{user_id}/truth").json()["asana"]
        for project in [p["gid"] for p in truth["projects"] if not p["deleted"]]:
            started = running.nango.get("/proxy/api/1.0/events", params={"resource": project}, headers=headers)
            assert started.status_code == 412
            bodies.append(started.content)
            streams.append((headers, project, started.json()["sync"]))
    for _ in range(2):
        running.admin.post("/changes", json={"fraction": 0.05})
    for headers, project, sync in streams:
        response = running.nango.get("/proxy/api/1.0/events", params={"resource": project, "sync": sync},
                                     headers=headers)
        assert response.status_code == 200
        bodies.append(response.content)
    return bodies


def test_same_arguments_record_the_same_asana_events_and_tokens(make_sandbox):
    first = crawl_events(make_sandbox(seed=5, users=2))
    second = crawl_events(make_sandbox(seed=5, users=2))
    assert any(b'"action"' in body for body in first), "the batches reached the streams"
    assert first == second
