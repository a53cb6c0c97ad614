"""`/v1/context` and `/v1/mcp/config`: the caller's files, cached correctly, negotiated, refused clearly."""

from __future__ import annotations

import json

import pytest
import yaml

from sylo.export_layout import CLIENTS, FORMATS, KINDS, ExportLayout


def layout(deployment) -> ExportLayout:
    return ExportLayout(deployment.settings.exports)


def test_the_listing_links_every_exported_document(client, deployment):
    alice = deployment.users[0]
    response = client.get("/v1/context", headers=deployment.headers(alice))
    assert response.status_code == 200
    body = response.get_json()
    assert body["user_id"] == alice
    assert {d["name"] for d in body["documents"]} == {f"{k}.{f}" for k in KINDS for f in FORMATS}
    for entry in body["documents"]:
        assert entry["url"] == f"http://localhost/v1/context/{entry['name']}"
        assert client.get(entry["url"], headers=deployment.headers(alice)).status_code == 200
    assert response.headers["Cache-Control"].startswith("private")


def test_a_user_with_no_export_gets_an_empty_listing_and_404s(client, deployment):
    carol = deployment.users[2]
    body = client.get("/v1/context", headers=deployment.headers(carol)).get_json()
    assert body["documents"] == [] and "Nothing exported yet" in body["note"]
    response = client.get("/v1/context/all.md", headers=deployment.headers(carol))
    assert response.status_code == 404
    assert response.get_json()["type"] == "urn:sylo:problem:not-exported"


@pytest.mark.parametrize("fmt", FORMATS)
def test_documents_are_served_byte_for_byte_with_their_type(client, deployment, fmt):
    alice = deployment.users[0]
    response = client.get(f"/v1/context/financials.{fmt}", headers=deployment.headers(alice))
    assert response.status_code == 200
    assert response.data == layout(deployment).context(alice, "financials", fmt).read_bytes()
    assert response.mimetype == {"md": "text/markdown", "json": "application/json", "yaml": "application/yaml"}[fmt]
    assert response.headers["Cache-Control"] == "private, no-cache"


def test_etags_are_strong_and_revalidate_to_304(client, deployment):
    headers = deployment.headers(deployment.users[0])
    first = client.get("/v1/context/all.md", headers=headers)
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    again = client.get("/v1/context/all.md", headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    other = client.get("/v1/context/all.md", headers={**headers, "If-None-Match": '"stale"'})
    assert other.status_code == 200
    listed = client.get("/v1/context/all.md", headers={**headers, "If-None-Match": f'"x", W/{etag}'})
    assert listed.status_code == 304


def test_a_replaced_file_gets_a_new_etag(client, deployment, tmp_path):
    from pipelines.documents.export import atomic_write

    bob = deployment.users[1]
    path = layout(deployment).context(bob, "tasks", "md")
    original = path.read_bytes()
    headers = deployment.headers(bob)
    before = client.get("/v1/context/tasks.md", headers=headers).headers["ETag"]
    try:
        atomic_write(path, original + b"\nA new line.\n")
        after = client.get("/v1/context/tasks.md", headers={**headers, "If-None-Match": before})
        assert after.status_code == 200 and after.data.endswith(b"A new line.\n")
        assert after.headers["ETag"] != before
    finally:
        atomic_write(path, original)


@pytest.mark.parametrize(("accept", "fmt"), [
    ("application/json", "json"), ("application/yaml", "yaml"), ("text/markdown", "md"), ("*/*", "md"),
    (None, "md"), ("text/yaml;q=0.9, application/json;q=0.5", "yaml"), ("text/plain", "md")])
def test_the_accept_header_chooses_the_format(client, deployment, accept, fmt):
    alice = deployment.users[0]
    headers = deployment.headers(alice, **({"Accept": accept} if accept else {}))
    response = client.get("/v1/context/projects", headers=headers)
    assert response.status_code == 200
    assert response.data == layout(deployment).context(alice, "projects", fmt).read_bytes()
    assert "Accept" in response.headers["Vary"]


def test_json_and_yaml_carry_the_same_data(client, deployment):
    headers = deployment.headers(deployment.users[0])
    as_json = client.get("/v1/context/tasks.json", headers=headers).get_json()
    as_yaml = yaml.safe_load(client.get("/v1/context/tasks.yaml", headers=headers).data)
    assert json.loads(json.dumps(as_yaml, default=str)) == as_json


def test_an_unacceptable_accept_is_406(client, deployment):
    response = client.get("/v1/context/projects", headers=deployment.headers(deployment.users[0], Accept="image/png"))
    assert response.status_code == 406
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(("name", "slug"), [
    ("nope.md", "unknown-document"), ("all.pdf", "unknown-format"), ("all.md.bak", "unknown-format"),
    ("..", "unknown-document"), (".md", "unknown-document"), ("ALL.md", "unknown-document"),
    ("manifest.json", "unknown-document")])
def test_unknown_documents_are_problems(client, deployment, name, slug):
    response = client.get(f"/v1/context/{name}", headers=deployment.headers(deployment.users[0]))
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["type"] == f"urn:sylo:problem:{slug}" and problem["status"] == 404 and problem["detail"]


def test_a_nul_in_the_name_is_a_bad_request(client, deployment):
    response = client.get("/v1/context/all%00.md", headers=deployment.headers(deployment.users[0]))
    assert response.status_code == 400 and response.get_json()["type"] == "urn:sylo:problem:bad-request"


@pytest.mark.parametrize("path", [
    "/v1/context/../../manifest.json", "/v1/context/%2e%2e%2fmanifest.json", "/v1/context/..%2F..%2Fapp.db",
    "/v1/context/%2e%2e/%2e%2e/app.db", "/v1/context/all.md/../../x"])
def test_path_traversal_finds_nothing(client, deployment, path):
    response = client.get(path, headers=deployment.headers(deployment.users[0]))
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert b"user_id" not in response.data


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz",
                                           "Bearer sylo_not-a-real-token", "bearer  "])
def test_bad_tokens_get_401_with_a_challenge(client, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    for path in ("/v1/context", "/v1/context/all.md", "/v1/mcp/config?client=cursor"):
        response = client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="sylo"')
        assert response.mimetype == "application/problem+json"


def test_a_revoked_token_stops_working(client, deployment):
    user_id = deployment.users[1]
    info, token = deployment.appdb.issue_token(user_id, label="short-lived")
    assert client.get("/v1/context", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert deployment.appdb.revoke_token(info.id)
    response = client.get("/v1/context", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.get_json()["type"] == "urn:sylo:problem:invalid-token"


@pytest.mark.parametrize("client_name", CLIENTS)
def test_mcp_configs_point_at_this_server(client, deployment, client_name):
    response = client.get(f"/v1/mcp/config?client={client_name}", headers=deployment.headers(deployment.users[0]),
                          base_url="https://sylo.studio.example")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "https://sylo.studio.example/mcp" in text
    assert deployment.tokens[deployment.users[0]] not in text
    assert response.headers["Cache-Control"] == "private, no-store"


def test_the_personal_variant_carries_the_callers_token(client, deployment):
    alice = deployment.users[0]
    response = client.get("/v1/mcp/config?client=vscode&variant=personal", headers=deployment.headers(alice))
    config = response.get_json()
    assert config["servers"]["sylo"]["headers"]["Authorization"] == f"Bearer {deployment.tokens[alice]}"
    assert "inputs" not in config


@pytest.mark.parametrize("query", ["", "?client=", "?client=emacs", "?client=cursor&variant=shared"])
def test_bad_config_requests_are_400(client, deployment, query):
    response = client.get(f"/v1/mcp/config{query}", headers=deployment.headers(deployment.users[0]))
    assert response.status_code == 400 and response.mimetype == "application/problem+json"


def test_no_route_lets_one_user_read_anothers_files(client, deployment):
    alice, bob = deployment.users[:2]
    export = layout(deployment)
    for kind in KINDS:
        for fmt in FORMATS:
            mine = client.get(f"/v1/context/{kind}.{fmt}", headers=deployment.headers(bob))
            assert mine.data == export.context(bob, kind, fmt).read_bytes()
            assert mine.data != export.context(alice, kind, fmt).read_bytes()
            assert alice.encode() not in mine.data
    listing = client.get("/v1/context", headers=deployment.headers(bob)).get_data(as_text=True)
    assert alice not in listing
    for query in (f"?user_id={alice}", f"?user={alice}"):  # there is no way to name another user
        assert client.get(f"/v1/context/all.md{query}", headers=deployment.headers(bob)).data == \
            export.context(bob, "all", "md").read_bytes()
    for path in (f"/v1/context/{alice}/all.md", f"/{alice}/context/all.md", f"/v1/context/..%2F{alice}%2Fcontext%2Fall.md"):
        assert client.get(path, headers=deployment.headers(bob)).status_code == 404


def test_a_token_revoked_elsewhere_stops_working_once_the_cache_expires(deployment, app):
    from sylo.appdb import AppDB

    user_id = deployment.users[1]
    info, token = deployment.appdb.issue_token(user_id, label="cached")
    client = app.test_client()
    assert client.get("/v1/context", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    elsewhere = AppDB(deployment.appdb.url)  # another worker's connection to the same app DB
    assert elsewhere.revoke_token(info.id)
    assert client.get("/v1/context", headers={"Authorization": f"Bearer {token}"}).status_code == 200  # cached
    deployment.appdb._token_cache.clear()  # as if SYLO_TOKEN_CACHE_SECONDS had passed
    assert client.get("/v1/context", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_links_use_the_public_url_whatever_the_host_header_says(deployment):
    from api import create_app

    settings = deployment.settings.model_copy(update={"public_url": "https://sylo.studio.example/"})
    client = create_app(settings, deployment.appdb).test_client()
    alice = deployment.users[0]
    headers = {**deployment.headers(alice), "Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    listing = client.get("/v1/context", headers=headers).get_json()
    assert {d["url"].rsplit("/", 1)[0] for d in listing["documents"]} == {"https://sylo.studio.example/v1/context"}
    config = client.get("/v1/mcp/config?client=cursor", headers=headers).get_data(as_text=True)
    assert "https://sylo.studio.example/mcp" in config and "evil" not in config
    assert client.get("/openapi.json", headers=headers).get_json()["servers"] == [{"url": "https://sylo.studio.example"}]
