"""The sandbox's Nango against `../shared/reference/nango.md`: auth, connect sessions, connections, proxy."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.sandbox.reference_client import proxy_headers, xero_tenant

SESSION_TOKEN = re.compile(r"^nango_connect_session_[a-f0-9]{64}$")
GMAIL_PROFILE = "/proxy/gmail/v1/users/me/profile"


def error_code(response: httpx.Response) -> str:
    """Nango's own error envelope `{"error": {"code": ...}}` (nango.md §8)."""
    return response.json()["error"]["code"]


def new_session(nango: httpx.Client, body: dict) -> httpx.Response:
    return nango.post("/connect/sessions", json=body)


def complete(nango: httpx.Client, token: str, integration: str) -> httpx.Response:
    """What the Connect page does when the person picks an integration (README, "The sandbox")."""
    return nango.post("/connect/complete", data={"session_token": token, "integration": integration},
                      headers={"Accept": "application/json"})


def connect(nango: httpx.Client, integration: str, tags: dict) -> dict:
    """Create a session with tags, complete it, return the new connection from the tag-filtered list."""
    token = new_session(nango, {"tags": tags}).json()["data"]["token"]
    assert complete(nango, token, integration).status_code == 200
    listed = nango.get("/connections", params={f"tags[{k}]": v for k, v in tags.items()}).json()["connections"]
    return next(c for c in listed if c["provider_config_key"] == integration)


@pytest.fixture
def running(make_sandbox):
    """A fresh sandbox for tests that add or delete connections."""
    return make_sandbox(users=2)


@pytest.fixture(scope="module")
def shared(module_sandbox):
    """One sandbox for the tests that only read."""
    return module_sandbox(users=2)


# -- authentication (nango.md §1) ----------------------------------------------------------------

@pytest.mark.parametrize(("authorization", "code"), [
    (None, "missing_auth_header"),
    ("Basic dXNlcjpwYXNz", "malformed_auth_header"),
    ("Bearer not-a-uuid", "invalid_secret_key_format"),
    (f"Bearer {uuid.uuid1()}", "invalid_secret_key_format"),  # a UUID, but not version 4
    (f"Bearer {uuid.uuid4()}", "unknown_account"),
])
def test_auth_failures_are_401_with_a_code(shared, authorization, code):
    headers = {"Authorization": authorization} if authorization else {}
    with httpx.Client(base_url=shared.url) as anonymous:
        for path in ("/connections", GMAIL_PROFILE):
            response = anonymous.get(path, headers=headers)
            assert response.status_code == 401, (path, response.text)
            assert error_code(response) == code
            assert isinstance(response.json()["error"]["message"], str)


def test_the_configured_key_is_accepted(shared):
    assert shared.nango.get("/connections").status_code == 200


# -- connect sessions (nango.md §2) --------------------------------------------------------------

def test_connect_session_is_created_wrapped_in_data(shared):
    before = datetime.now(timezone.utc)
    response = new_session(shared.nango, {"tags": {"end_user_id": "u_new", "end_user_email": "a@studio.example"}})
    assert response.status_code == 201
    assert set(response.json()) == {"data"}
    data = response.json()["data"]
    assert SESSION_TOKEN.match(data["token"])
    assert data["connect_link"].endswith(f"/?session_token={data['token']}")
    expires = datetime.fromisoformat(data["expires_at"].replace("Z", "+00:00"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["expires_at"])
    assert before + timedelta(minutes=29) <= expires <= datetime.now(timezone.utc) + timedelta(minutes=31)


def test_every_session_gets_a_fresh_token(shared):
    tokens = {new_session(shared.nango, {"tags": {"end_user_id": "u_new"}}).json()["data"]["token"]
              for _ in range(3)}
    assert len(tokens) == 3


@pytest.mark.parametrize("body", [
    {},                                                         # neither tags nor end_user
    {"allowed_integrations": ["xero"]},                         # the documented code ≠ spec gotcha
    {"tags": {"end_user_id": "u_1"}, "colour": "blue"},         # unknown key: the body is strict
    {"tags": {"end_user_id": "u_1"}, "allowed_integrations": ["salesforce"]},  # unknown integration
    {"tags": {"1starts_with_digit": "x"}},                      # tag key regex
    {"tags": {"end_user_email": "not-an-email"}},               # end_user_email must be an email
    {"tags": {"end_user_id": ""}},                              # tag values are 1-255 chars
    {"end_user": {"email": "a@b.example"}},                     # end_user.id is required
    {"tags": {f"k{i}": "v" for i in range(11)}},                # at most 10 tags
    {"tags": {"k" * 65: "v"}},                                  # tag keys are at most 64 chars
    {"tags": {"end_user_id": "x" * 256}},                       # tag values are at most 255 chars
])
def test_bad_session_bodies_are_400_invalid_body(shared, body):
    response = new_session(shared.nango, body)
    assert response.status_code == 400, response.text
    assert error_code(response) == "invalid_body"


def test_session_query_string_must_be_empty(shared):
    response = shared.nango.post("/connect/sessions", params={"x": "1"}, json={"tags": {"end_user_id": "u"}})
    assert response.status_code == 400
    assert error_code(response) == "invalid_query_params"


def test_connect_link_opens_the_connect_page(shared):
    link = new_session(shared.nango, {"tags": {"end_user_id": "u_page"}}).json()["data"]["connect_link"]
    page = httpx.get(link, timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")


def test_session_endpoints_take_the_session_token_as_bearer(shared):
    token = new_session(shared.nango, {"tags": {"end_user_id": "u_own"}}).json()["data"]["token"]
    with httpx.Client(base_url=shared.url, headers={"Authorization": f"Bearer {token}"}) as browser:
        assert browser.get("/connect/session").status_code == 200
        assert browser.delete("/connect/session").status_code == 204
    assert complete(shared.nango, token, "asana").status_code != 200, "a deleted session cannot be completed"


def test_empty_tags_are_enough(shared):
    assert new_session(shared.nango, {"tags": {}}).status_code == 201


def test_completed_session_creates_a_connection_listed_by_tags(running):
    tags = {"end_user_id": "u_new", "organization_id": "org_9"}
    token = new_session(running.nango, {"tags": tags, "allowed_integrations": ["asana"]}).json()["data"]["token"]
    assert complete(running.nango, token, "asana").status_code == 200
    listed = running.nango.get("/connections", params={"tags[end_user_id]": "u_new"}).json()["connections"]
    assert len(listed) == 1
    connection = listed[0]
    assert connection["provider_config_key"] == "asana"
    assert connection["provider"] == "asana"
    assert connection["tags"] == tags
    assert uuid.UUID(connection["connection_id"])  # Connect UI connection ids are random UUIDs
    assert connection["errors"] == []
    assert running.nango.get("/connections", params={"tags[end_user_id]": "u_new",
                                                     "tags[organization_id]": "other"}).json() == {"connections": []}


def test_deprecated_end_user_is_mapped_into_tags(running):
    body = {"end_user": {"id": "u_legacy", "email": "legacy@studio.example", "display_name": "Lee"}}
    token = new_session(running.nango, body).json()["data"]["token"]
    complete(running.nango, token, "google-mail")
    connection = running.nango.get("/connections", params={"tags[end_user_id]": "u_legacy"}).json()["connections"][0]
    assert connection["tags"] == {"end_user_id": "u_legacy", "end_user_email": "legacy@studio.example",
                                  "end_user_display_name": "Lee"}


def test_explicit_tags_win_over_deprecated_end_user_and_organization(running):
    body = {"end_user": {"id": "u_old", "email": "old@studio.example"}, "organization": {"id": "org_1", "display_name": "Studio"},
            "tags": {"end_user_id": "u_tagged"}}
    token = new_session(running.nango, body).json()["data"]["token"]
    complete(running.nango, token, "asana")
    [connection] = running.nango.get("/connections", params={"tags[end_user_id]": "u_tagged"}).json()["connections"]
    assert connection["tags"] == {"end_user_id": "u_tagged", "end_user_email": "old@studio.example",
                                  "organization_id": "org_1", "organization_display_name": "Studio"}


def test_webhook_url_override_may_not_point_at_nango(shared):
    body = {"tags": {"end_user_id": "u_hook"}, "webhook_url_override": "https://hooks.nango.dev/mine"}
    response = new_session(shared.nango, body)
    assert response.status_code == 400
    assert error_code(response) == "invalid_body"


def test_tag_keys_are_lower_cased(running):
    token = new_session(running.nango, {"tags": {"End_User_Id": "u_case"}}).json()["data"]["token"]
    complete(running.nango, token, "asana")
    listed = running.nango.get("/connections", params={"tags[end_user_id]": "u_case"}).json()["connections"]
    assert [c["tags"] for c in listed] == [{"end_user_id": "u_case"}]


def test_new_xero_connection_carries_its_tenant(running):
    connection = connect(running.nango, "xero", {"end_user_id": "u_books"})
    full = running.nango.get(f"/connections/{connection['connection_id']}", params={"provider_config_key": "xero"})
    tenant = full.json()["connection_config"]["tenant_id"]
    tenants = running.nango.get("/proxy/connections",
                                headers=proxy_headers(connection["connection_id"], "xero")).json()
    assert tenant in [t["tenantId"] for t in tenants]


def test_gmail_connection_carries_an_email_address_hash(shared):
    user = shared.user_ids()[0]
    full = shared.nango.get(f"/connections/{shared.connection(user, 'google-mail')}",
                             params={"provider_config_key": "google-mail"}).json()
    assert full["connection_config"]["emailAddressHash"]


# -- connections list (nango.md §3) --------------------------------------------------------------

def test_list_items_have_the_documented_shape(shared):
    connections = shared.nango.get("/connections").json()["connections"]
    assert len(connections) == 6  # two users, three integrations each
    for item in connections:
        assert {"id", "connection_id", "provider", "provider_config_key", "created", "metadata", "tags", "errors",
                "end_user"} <= set(item)
        assert "credentials" not in item
        assert isinstance(item["id"], int)
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", item["created"])


def test_list_is_newest_first_and_pages_by_limit_and_page(shared):
    everything = shared.nango.get("/connections").json()["connections"]
    keys = [(c["created"], c["id"]) for c in everything]
    assert keys == sorted(keys, reverse=True)
    pages = [shared.nango.get("/connections", params={"limit": 4, "page": page}).json()["connections"]
             for page in range(3)]
    assert [len(p) for p in pages] == [4, 2, 0]
    assert pages[0] + pages[1] == everything


def test_search_matches_connection_id_end_user_name_or_email_only(running):
    tags = {"end_user_id": "u_searchable", "end_user_email": "Ana@Harbour.example",
            "end_user_display_name": "Ana Kowalczyk", "organization_id": "org_zebracorn"}
    connection = connect(running.nango, "asana", tags)

    def found(text: str) -> bool:
        listed = running.nango.get("/connections", params={"search": text}).json()["connections"]
        return connection["connection_id"] in [c["connection_id"] for c in listed]

    assert found(connection["connection_id"][4:16])
    assert found("harbour.EXAMPLE") and found("kowalc")  # ILIKE: substring, any case
    assert not found("zebracorn"), "other tags are not searched (nango.md §3)"


def test_newly_created_connection_is_listed_first(running):
    connection = connect(running.nango, "asana", {"end_user_id": "u_latest"})
    assert running.nango.get("/connections", params={"limit": 1}).json()["connections"][0] == connection


def test_list_filters_by_end_user_tag(shared):
    user = shared.user_ids()[0]
    listed = shared.nango.get("/connections", params={"tags[end_user_id]": user}).json()["connections"]
    assert sorted(c["provider_config_key"] for c in listed) == ["asana", "google-mail", "xero"]
    assert {c["connection_id"] for c in listed} == {shared.connection(user, i) for i in ("asana", "google-mail", "xero")}


def test_list_filters_by_integration_ids(shared):
    listed = shared.nango.get("/connections", params={"integrationId": "asana,xero"}).json()["connections"]
    assert sorted(c["provider_config_key"] for c in listed) == ["asana", "asana", "xero", "xero"]


def test_singular_connection_routes_are_aliases(shared):
    assert shared.nango.get("/connection").json() == shared.nango.get("/connections").json()
    connection_id = shared.connection(shared.user_ids()[0], "asana")
    params = {"provider_config_key": "asana"}
    assert (shared.nango.get(f"/connection/{connection_id}", params=params).json()["connection_id"]
            == connection_id)


def test_list_filters_by_connection_id(shared):
    user = shared.user_ids()[0]
    connection_id = shared.connection(user, "xero")
    listed = shared.nango.get("/connections", params={"connectionId": connection_id}).json()["connections"]
    assert [c["connection_id"] for c in listed] == [connection_id]


@pytest.mark.parametrize("params", [{"colour": "blue"}, {"limit": 0}, {"limit": 2001}, {"page": -1}])
def test_list_query_is_strict(shared, params):
    response = shared.nango.get("/connections", params=params)
    assert response.status_code == 400
    assert error_code(response) == "invalid_query_params"


# -- one connection (nango.md §3) ----------------------------------------------------------------

def test_get_connection_is_full_with_offset_timestamps(shared):
    user = shared.user_ids()[0]
    connection_id = shared.connection(user, "asana")
    listed = shared.nango.get("/connections", params={"connectionId": connection_id}).json()["connections"][0]
    response = shared.nango.get(f"/connections/{connection_id}", params={"provider_config_key": "asana"})
    assert response.status_code == 200
    full = response.json()
    assert full["connection_id"] == connection_id
    assert full["provider_config_key"] == "asana"
    assert full["tags"] == listed["tags"]
    for field in ("created_at", "updated_at", "last_fetched_at"):
        assert full[field].endswith("+00:00"), field
    assert listed["created"].endswith("Z")
    assert datetime.fromisoformat(full["created_at"]) == datetime.fromisoformat(listed["created"].replace("Z", "+00:00"))
    credentials = full["credentials"]
    assert credentials["type"] == "OAUTH2"
    assert credentials["access_token"]
    assert credentials["raw"]["access_token"] == credentials["access_token"]


def test_refresh_token_only_when_asked_and_booleans_are_strings(shared):
    connection_id = shared.connection(shared.user_ids()[0], "xero")
    url = f"/connections/{connection_id}"
    plain = shared.nango.get(url, params={"provider_config_key": "xero"}).json()["credentials"]
    asked = shared.nango.get(url, params={"provider_config_key": "xero", "refresh_token": "true"}).json()["credentials"]
    assert "refresh_token" not in plain
    assert asked["refresh_token"]
    bad = shared.nango.get(url, params={"provider_config_key": "xero", "force_refresh": "yes"})
    assert bad.status_code == 400
    assert error_code(bad) == "invalid_query_params"


def test_get_connection_requires_provider_config_key(shared):
    connection_id = shared.connection(shared.user_ids()[0], "asana")
    response = shared.nango.get(f"/connections/{connection_id}")
    assert response.status_code == 400
    assert error_code(response) == "invalid_query_params"


def test_get_connection_query_is_strict(shared):
    connection_id = shared.connection(shared.user_ids()[0], "asana")
    response = shared.nango.get(f"/connections/{connection_id}", params={"provider_config_key": "asana", "x": "1"})
    assert response.status_code == 400
    assert error_code(response) == "invalid_query_params"


def test_get_unknown_connection_is_404_not_found(shared):
    response = shared.nango.get(f"/connections/{uuid.uuid4()}", params={"provider_config_key": "asana"})
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_get_connection_under_another_integration_is_404(shared):
    connection_id = shared.connection(shared.user_ids()[0], "google-mail")
    response = shared.nango.get(f"/connections/{connection_id}", params={"provider_config_key": "asana"})
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_delete_requires_provider_config_key(shared):
    connection_id = shared.connection(shared.user_ids()[0], "asana")
    response = shared.nango.delete(f"/connections/{connection_id}")
    assert response.status_code == 400
    assert error_code(response) == "invalid_query_params"
    assert shared.nango.get(f"/connections/{connection_id}", params={"provider_config_key": "asana"}).status_code == 200


def test_get_connection_of_unknown_integration_is_400(shared):
    connection_id = shared.connection(shared.user_ids()[0], "asana")
    response = shared.nango.get(f"/connections/{connection_id}", params={"provider_config_key": "salesforce"})
    assert response.status_code == 400
    assert error_code(response) == "unknown_provider_config"


def test_xero_connections_carry_tenant_id(shared):
    for user in shared.user_ids():
        tenant = xero_tenant(shared.nango, shared.connection(user, "xero"))
        assert shared.admin.get(f"/users/{user}/truth").json()["xero"]["tenant_id"] == tenant


def test_delete_connection_then_it_is_unknown(running):
    user = running.user_ids()[0]
    connection_id = running.connection(user, "asana")
    params = {"provider_config_key": "asana"}
    response = running.nango.delete(f"/connections/{connection_id}", params=params)
    assert response.status_code == 200
    assert response.json() == {"success": True}
    again = running.nango.delete(f"/connections/{connection_id}", params=params)
    assert again.status_code == 400
    assert error_code(again) == "unknown_connection"
    assert running.nango.get(f"/connections/{connection_id}", params=params).status_code == 404
    assert connection_id not in [c["connection_id"] for c in running.nango.get("/connections").json()["connections"]]
    gone = running.nango.get("/proxy/api/1.0/workspaces", headers=proxy_headers(connection_id, "asana"))
    assert gone.status_code == 400
    assert error_code(gone) == "server_error"


# -- proxy (nango.md §4) -------------------------------------------------------------------------

@pytest.mark.parametrize("drop", ["Connection-Id", "Provider-Config-Key"])
def test_proxy_without_a_required_header_is_400_invalid_headers(shared, drop):
    headers = proxy_headers(shared.connection(shared.user_ids()[0], "google-mail"), "google-mail")
    del headers[drop]
    response = shared.nango.get(GMAIL_PROFILE, headers=headers)
    assert response.status_code == 400
    assert error_code(response) == "invalid_headers"
    assert response.json()["error"]["errors"]


@pytest.mark.parametrize(("name", "good", "bad"), [
    ("Decompress", "false", "yes"),
    ("Retries", "2", "two"),
    ("Retry-On", "403,409", "403;409"),
    ("Connection-Id", None, "x" * 256),
])
def test_proxy_control_headers_are_validated(shared, name, good, bad):
    headers = proxy_headers(shared.connection(shared.user_ids()[0], "google-mail"), "google-mail")
    if good is not None:
        assert shared.nango.get(GMAIL_PROFILE, headers={**headers, name: good}).status_code == 200
    response = shared.nango.get(GMAIL_PROFILE, headers={**headers, name: bad})
    assert response.status_code == 400
    assert error_code(response) == "invalid_headers"


def test_proxy_unknown_integration_is_404(shared):
    response = shared.nango.get(GMAIL_PROFILE, headers=proxy_headers(
        shared.connection(shared.user_ids()[0], "google-mail"), "salesforce"))
    assert response.status_code == 404
    assert error_code(response) == "unknown_provider_config"


@pytest.mark.parametrize("connection", ["unknown", "other_integration"])
def test_proxy_unknown_connection_is_400_server_error(shared, connection):
    user = shared.user_ids()[0]
    connection_id = str(uuid.uuid4()) if connection == "unknown" else shared.connection(user, "xero")
    response = shared.nango.get(GMAIL_PROFILE, headers=proxy_headers(connection_id, "google-mail"))
    assert response.status_code == 400
    assert error_code(response) == "server_error"


def test_proxy_forwards_only_nango_proxy_prefixed_headers(shared):
    connection_id = shared.connection(shared.user_ids()[0], "xero")
    tenant = xero_tenant(shared.nango, connection_id)
    base = proxy_headers(connection_id, "xero", **{"Nango-Proxy-Accept": "application/json"})
    plain = shared.nango.get("/proxy/api.xro/2.0/Organisation", headers={**base, "xero-tenant-id": tenant})
    assert plain.status_code == 403
    assert plain.json()["Title"] == "Forbidden"
    for name in ("Nango-Proxy-xero-tenant-id", "nango-proxy-Xero-Tenant-Id"):
        response = shared.nango.get("/proxy/api.xro/2.0/Organisation", headers={**base, name: tenant})
        assert response.status_code == 200, (name, response.text)


def test_proxy_passes_provider_errors_through(shared):
    user = shared.user_ids()[0]
    gmail = shared.nango.get("/proxy/gmail/v1/users/me/messages/ffffffffffffffff",
                              headers=proxy_headers(shared.connection(user, "google-mail"), "google-mail"))
    assert gmail.status_code == 404
    assert gmail.json()["error"]["code"] == 404
    assert gmail.json()["error"]["errors"][0]["reason"] == "notFound"
    assert gmail.json()["error"]["status"] == "NOT_FOUND"
    asana = shared.nango.get("/proxy/api/1.0/tasks", headers=proxy_headers(shared.connection(user, "asana"), "asana"))
    assert asana.status_code == 400
    assert set(asana.json()) == {"errors"}
    assert asana.json()["errors"][0]["message"]
    xero = shared.nango.get("/proxy/api.xro/2.0/Invoices", headers=proxy_headers(shared.connection(user, "xero"), "xero"))
    assert xero.status_code == 403
    for response in (gmail, asana, xero):  # hop-by-hop framing is not passed through (nango.md §10.6)
        assert not ("transfer-encoding" in response.headers and "content-length" in response.headers)
    assert {"Title", "Status", "Detail"} <= set(xero.json())
    assert xero.json()["Status"] == 403


def test_proxy_forwards_the_path_and_repeated_query_params_verbatim(shared):
    headers = proxy_headers(shared.connection(shared.user_ids()[0], "google-mail"), "google-mail")
    message_id = shared.nango.get("/proxy/gmail/v1/users/me/messages?maxResults=1", headers=headers).json()[
        "messages"][0]["id"]
    response = shared.nango.get(f"/proxy/gmail/v1/users/me/messages/{message_id}"
                                 "?format=metadata&metadataHeaders=From&metadataHeaders=Subject", headers=headers)
    assert {h["name"] for h in response.json()["payload"]["headers"]} == {"From", "Subject"}


# -- Nango's own rate limit (nango.md §8) ---------------------------------------------------------

def test_nango_rate_limit_is_told_apart_from_a_provider_429_by_body(make_sandbox):
    running = make_sandbox(users=1, limits={"nango_per_minute": 3, "asana_per_minute": 1})
    user = running.user_ids()[0]
    headers = proxy_headers(running.connection(user, "asana"), "asana")
    assert running.nango.get("/proxy/api/1.0/workspaces", headers=headers).status_code == 200
    provider = running.nango.get("/proxy/api/1.0/workspaces", headers=headers)
    assert provider.status_code == 429
    assert "errors" in provider.json() and "error" not in provider.json()
    assert running.nango.get("/connections").status_code == 200  # the third call of the minute
    nango = running.nango.get("/connections")
    assert nango.status_code == 429
    assert nango.json() == {"error": {"code": "too_many_request", "method": "GET", "path": "/connections"}}
    assert int(nango.headers["Retry-After"]) > 0
    proxied = running.nango.get("/proxy/api/1.0/workspaces", headers=headers)
    assert proxied.status_code == 429
    assert proxied.json()["error"]["code"] == "too_many_request"


def test_rate_limit_headers_count_down_when_the_limit_is_on(make_sandbox):
    running = make_sandbox(users=1, limits={"nango_per_minute": 10})
    remaining = []
    for _ in range(3):
        response = running.nango.get("/connections")
        assert response.headers["X-RateLimit-Limit"] == "10"
        remaining.append(int(response.headers["X-RateLimit-Remaining"]))
        reset = int(response.headers["X-RateLimit-Reset"])
        assert time.time() - 1 <= reset <= time.time() + 61  # unix seconds, within the 60 s window
    assert remaining == [9, 8, 7]


# -- broken credentials (nango.md §3, §4, §10.4) --------------------------------------------------

def test_broken_connection_fails_get_and_proxy_and_is_flagged_in_the_list(running):
    user = running.user_ids()[0]
    connection_id = running.connection(user, "google-mail")
    assert running.admin.post(f"/connections/{connection_id}/break").status_code == 200
    response = running.nango.get(f"/connections/{connection_id}", params={"provider_config_key": "google-mail"})
    assert response.status_code in (400, 424)
    error = response.json()["error"]
    assert error["code"] == "invalid_credentials"
    assert error["payload"]["connection"]["connection_id"] == connection_id
    assert "credentials" not in error["payload"]["connection"]
    proxied = running.nango.get(GMAIL_PROFILE, headers=proxy_headers(connection_id, "google-mail"))
    assert proxied.status_code in (400, 424)
    assert error_code(proxied) in ("server_error", "connection_refresh_backoff")
    listed = running.nango.get("/connections", params={"connectionId": connection_id}).json()["connections"][0]
    assert [e["type"] for e in listed["errors"]] == ["auth"]
    assert listed["errors"][0]["log_id"]
