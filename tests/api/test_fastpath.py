"""The read fast path answers exactly what Flask answers: same status, headers and body, request by request.

Each request of the matrix goes once through the fast path in front of the Flask app and once
through the Flask app alone; a counting wrapper says which requests the fast path answered itself,
so the plain cases (200, 304, HEAD) are shown to take it and the rest to fall through.
"""

from __future__ import annotations

import time

import pytest
from werkzeug.test import Client

from api.fastpath import FastPath
from api.ops import REQUESTS
from sylo.appdb import AppDB

ROUTE = "/v1/context/<name>"
ACCEPTS = [None, "text/markdown", "application/json", "application/yaml", "text/yaml", "*/*", "text/html",
           "application/json;q=0.5, text/markdown", "text/plain"]


class Counting:
    """The Flask app, counting the requests that reach it."""

    def __init__(self, app):
        self.app, self.calls = app, 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def paths(app):
    """(fast path in front of Flask, its counting Flask, Flask alone)."""
    flask_only = app.wsgi_app.app  # create_app put the fast path in front of Flask's own WSGI callable
    counting = Counting(flask_only)
    return Client(FastPath(counting, app.extensions["sylo"], ROUTE)), counting, Client(flask_only)


@pytest.fixture(scope="module")
def tokens(deployment):
    owner = deployment.users[0]
    revoked = deployment.appdb.issue_token(owner, "revoked")
    deployment.appdb.revoke_token(revoked[0].id)
    return {"owner": deployment.tokens[owner], "nothing exported": deployment.tokens[deployment.users[2]],
            "financials only": deployment.appdb.issue_token(owner, "books", kinds=("financials",))[1],
            "revoked": revoked[1], "unknown": "sylo_" + "x" * 43, "oauth": "syloat_" + "y" * 43, "none": None}


def answer(client: Client, method: str, path: str, headers: dict) -> tuple:
    response = client.open(path, method=method, headers=headers)
    return response.status, sorted(response.headers.items()), response.get_data()


def compare(paths, method: str, path: str, headers: dict) -> bool:
    """Assert both paths give the same answer; True when the fast path answered it itself."""
    fast, counting, flask_only = paths
    before = counting.calls
    assert answer(fast, method, path, headers) == answer(flask_only, method, path, headers), (method, path, headers)
    return counting.calls == before


def etag_of(paths, token: str, path: str) -> str:
    return paths[2].get(path, headers={"Authorization": f"Bearer {token}"}).headers["ETag"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("name", ["all.md", "all.json", "all.yaml", "financials.md", "communications.yaml",
                                  "tasks.json", "projects.md"])
def test_documents_by_name_take_the_fast_path_and_match_flask(paths, tokens, method, name):
    path = f"/v1/context/{name}"
    owner = {"Authorization": f"Bearer {tokens['owner']}"}
    assert compare(paths, method, path, owner)
    etag = etag_of(paths, tokens["owner"], path)
    for match in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        assert compare(paths, method, path, owner | {"If-None-Match": match})
        assert paths[0].open(path, method=method, headers=owner | {"If-None-Match": match}).status_code == 304
    assert compare(paths, method, path, owner | {"If-None-Match": '"stale"'})
    assert compare(paths, method, path, {"Authorization": f"bearer   {tokens['owner']}  "})


@pytest.mark.parametrize("accept", ACCEPTS)
def test_negotiated_documents_match_flask(paths, tokens, accept):
    headers = {"Authorization": f"Bearer {tokens['owner']}"} | ({"Accept": accept} if accept else {})
    fast_path = compare(paths, "GET", "/v1/context/financials", headers)
    assert fast_path == (accept != "text/html")  # a 406 is Flask's to answer


@pytest.mark.parametrize("who, path", [
    ("financials only", "/v1/context/communications.md"), ("financials only", "/v1/context/all.md"),
    ("financials only", "/v1/context/all"), ("revoked", "/v1/context/all.md"), ("unknown", "/v1/context/all.md"),
    ("oauth", "/v1/context/all.md"), ("none", "/v1/context/all.md"), ("nothing exported", "/v1/context/all.md"),
    ("owner", "/v1/context/nosuch.md"), ("owner", "/v1/context/all.txt"), ("owner", "/v1/context/all.md/"),
    ("owner", "/v1/context/all.md?download=1"), ("owner", "/v1/context/"), ("owner", "/v1/context"),
    ("owner", "/v1/context/all%00.md"), ("owner", "/v1/context/..%2fall.md"),
])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_everything_else_falls_through_to_flask(paths, tokens, who, path, method):
    headers = {"Authorization": f"Bearer {tokens[who]}"} if tokens[who] else {}
    assert not compare(paths, method, path, headers)


def test_methods_other_than_get_and_head_fall_through(paths, tokens):
    headers = {"Authorization": f"Bearer {tokens['owner']}"}
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        assert not compare(paths, method, "/v1/context/all.md", headers)


def test_the_fast_path_counts_in_the_flask_routes_metrics(paths, tokens):
    counter = REQUESTS.labels(ROUTE, "GET", "200")
    before = counter._value.get()
    for _ in range(3):
        assert paths[0].get("/v1/context/all.md", headers={"Authorization": f"Bearer {tokens['owner']}"}).status_code == 200
    assert counter._value.get() == before + 3


def test_a_revoked_token_stops_working(paths, deployment):
    owner = deployment.users[0]
    info, token = deployment.appdb.issue_token(owner, "to revoke")
    headers = {"Authorization": f"Bearer {token}"}
    fast = paths[0]
    assert fast.get("/v1/context/all.md", headers=headers).status_code == 200
    deployment.appdb.revoke_token(info.id)  # through this process's AppDB: at once
    assert fast.get("/v1/context/all.md", headers=headers).status_code == 401
    assert compare(paths, "GET", "/v1/context/all.md", headers) is False


def test_a_revocation_by_another_process_lands_within_a_second(paths, deployment, monkeypatch):
    """Each worker asks once a second whether any token was revoked, and forgets every token when one was."""
    from sylo.appdb import store

    owner = deployment.users[0]
    info, token = deployment.appdb.issue_token(owner, "revoked elsewhere")
    headers = {"Authorization": f"Bearer {token}"}
    assert paths[0].get("/v1/context/all.md", headers=headers).status_code == 200
    with AppDB(deployment.appdb.url) as elsewhere:  # the CLI, or another worker
        assert elsewhere.revoke_token(info.id)
    monkeypatch.setattr(deployment.appdb, "_revocations_checked", time.monotonic())
    assert paths[0].get("/v1/context/all.md", headers=headers).status_code == 200  # remembered, within the second
    monkeypatch.setattr(store, "REVOCATION_CHECK_SECONDS", 0.0)  # as if the second had passed
    assert paths[0].get("/v1/context/all.md", headers=headers).status_code == 401


def test_a_replaced_document_is_served_new_at_once(paths, deployment, tmp_path):
    """The byte cache is keyed by the file's version: the pipeline's os.replace is seen on the next request."""
    from pipelines.documents.export import atomic_write
    from sylo.export_layout import ExportLayout

    owner = deployment.users[1]
    path = ExportLayout(deployment.settings.exports).context(owner, "tasks", "md")
    original = path.read_bytes()
    headers = {"Authorization": f"Bearer {deployment.tokens[owner]}"}
    try:
        first = paths[0].get("/v1/context/tasks.md", headers=headers)
        atomic_write(path, original + b"\nchanged\n")
        second = paths[0].get("/v1/context/tasks.md", headers=headers)
        assert second.get_data() == original + b"\nchanged\n" and second.headers["ETag"] != first.headers["ETag"]
        revalidated = paths[0].get("/v1/context/tasks.md", headers=headers | {"If-None-Match": first.headers["ETag"]})
        assert revalidated.status_code == 200
    finally:
        atomic_write(path, original)

