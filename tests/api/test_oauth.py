"""OAuth 2.1 for /mcp, at the HTTP level: the whole flow as a client drives it, and every refusal.

The browser half (the consent page in Chromium) and the official MCP client's own OAuth are in
tests/e2e/test_oauth_browser.py; here the owner's session and the consent form are driven
through Flask's test client, so each step can be tampered with.
"""

from __future__ import annotations

import base64
import datetime as dt
import re

import pytest
import sqlalchemy as sa
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from api import create_app
from sylo.accounts import Accounts
from sylo.appdb.schema import audit_log, oauth_clients, oauth_codes, oauth_grants, oauth_tokens
from tests.api.oauth_client import MCP_INIT, OAuthClient, csrf, query

READ_TOOLS = {"list_context_docs", "get_context_doc"}


@pytest.fixture(scope="module")
def oauth_app(deployment):
    """The API with room for many registrations from the test client's one address."""
    return create_app(deployment.settings.model_copy(update={"oauth_registrations_per_hour": 10_000}),
                      deployment.appdb)


@pytest.fixture
def owner(deployment) -> str:
    return deployment.users[0]


@pytest.fixture
def oauth(oauth_app, deployment, owner) -> OAuthClient:
    """A client whose browser holds the owner's dashboard session."""
    http = oauth_app.test_client()
    token, _ = Accounts(deployment.appdb.engine).start_session(owner)
    http.set_cookie("sylo_session", token)
    return OAuthClient(http)


def rows(deployment, table) -> list[dict]:
    with deployment.appdb.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(sa.select(table))]


def expire(deployment, table, column, value) -> None:
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    with deployment.appdb.engine.begin() as conn:
        conn.execute(sa.update(table).where(column == value).values(expires_at=past))


# -- discovery ------------------------------------------------------------------------------------


def test_a_401_from_mcp_leads_to_the_authorization_server(oauth):
    response = oauth.http.post("/mcp", json=MCP_INIT)
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert 'resource_metadata="http://localhost/.well-known/oauth-protected-resource/mcp"' in challenge
    assert 'scope="context:read commands:write"' in challenge
    for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
        resource = oauth.http.get(path)
        assert resource.headers["Access-Control-Allow-Origin"] == "*"
        assert resource.get_json()["resource"] == "http://localhost/mcp"
        assert resource.get_json()["authorization_servers"] == ["http://localhost"]
    metadata = oauth.discover()
    assert metadata["issuer"] == "http://localhost"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["client_id_metadata_document_supported"] is True
    assert metadata["registration_endpoint"] == "http://localhost/oauth/register"
    checked = AuthorizationServerMetadata({**metadata, "issuer": "https://localhost"})
    for field in ("authorization_endpoint", "token_endpoint", "registration_endpoint", "scopes_supported",
                  "response_types_supported", "grant_types_supported", "code_challenge_methods_supported",
                  "token_endpoint_auth_methods_supported", "revocation_endpoint"):
        getattr(checked, f"validate_{field}")()


# -- the whole flow -----------------------------------------------------------------------------


def test_register_sign_in_consent_token_mcp_refresh_revoke(oauth_app, deployment, owner):
    http = oauth_app.test_client()
    client = OAuthClient(http)
    assert client.discover()["registration_endpoint"].endswith("/oauth/register")
    client.register(client_name="Claude")
    signin = client.consent_page()
    assert signin.status_code == 302 and signin.headers["Location"].startswith("/login?next=/oauth/authorize")
    token, _ = Accounts(deployment.appdb.engine).start_session(owner)
    http.set_cookie("sylo_session", token)
    page = client.consent_page().get_data(as_text=True)
    assert "Claude" in page and "an app on this computer" in page and "Act in your name" in page
    tokens = client.exchange(client.code()).get_json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["scope"] == "context:read commands:write"
    listed = client.mcp(tokens["access_token"])
    assert listed.status_code == 200
    assert {"asana_create_task", *READ_TOOLS} <= {t["name"] for t in listed.get_json()["result"]["tools"]}

    refreshed = client.refresh(tokens["refresh_token"]).get_json()
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    assert client.mcp(refreshed["access_token"]).status_code == 200
    assert client.revoke(refreshed["refresh_token"]).status_code == 200
    for access in (tokens["access_token"], refreshed["access_token"]):
        refused = client.mcp(access)
        assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["WWW-Authenticate"]


def test_a_confidential_client_authenticates_with_its_secret(oauth):
    oauth.register(token_endpoint_auth_method="client_secret_post")
    assert oauth.client_secret
    code = oauth.code()
    secret, oauth.client_secret = oauth.client_secret, "wrong"
    assert oauth.exchange(code).get_json()["error"] == "invalid_client"
    oauth.client_secret = secret
    assert oauth.exchange(oauth.code()).status_code == 200


# -- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize("verifier", ["wrong-" + "x" * 50, None, "short"])
def test_a_wrong_or_missing_pkce_verifier_is_refused(oauth, verifier):
    oauth.register()
    code = oauth.code()
    oauth.verifier = verifier
    response = oauth.exchange(code)
    assert response.status_code == 400 and response.get_json()["error"] in ("invalid_grant", "invalid_request")


@pytest.mark.parametrize("overrides", [{"code_challenge_method": "plain"}, {"code_challenge_method": None},
                                       {"code_challenge": None, "code_challenge_method": None}])
def test_pkce_is_s256_and_required(oauth, overrides):
    oauth.register()
    response = oauth.consent_page(**overrides)
    returned = query(response.headers["Location"])
    assert returned["error"] == "invalid_request" and "S256" in returned["error_description"]
    assert returned["iss"] == "http://localhost" and returned["state"] == oauth.state


def test_a_code_works_once_and_a_replay_revokes_what_it_gave(oauth):
    oauth.register()
    code = oauth.code()
    first = oauth.exchange(code).get_json()
    assert oauth.mcp(first["access_token"]).status_code == 200
    replay = oauth.exchange(code)
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    assert oauth.mcp(first["access_token"]).status_code == 401
    assert oauth.refresh(first["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_a_code_lasts_60_seconds(oauth, deployment):
    oauth.register()
    code = oauth.code()
    [row] = [r for r in rows(deployment, oauth_codes) if r["client_id"] == oauth.client_id]
    assert (row["expires_at"] - row["created_at"]).total_seconds() == 60
    expire(deployment, oauth_codes, oauth_codes.c.code_hash, row["code_hash"])
    assert oauth.exchange(code).get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize("uri", ["http://studio.example/cb", "https://evil.example/cb#frag", "javascript:alert(1)",
                                 "cursor://anysphere.cursor-mcp/oauth/callback", "https://user:pw@app.example/cb",
                                 "http://127.0.0.1.evil.example/cb", "relative/cb"])
def test_registration_refuses_redirect_uris_that_are_neither_https_nor_loopback(oauth, uri):
    response = oauth.http.post("/oauth/register", json={"client_name": "x", "redirect_uris": [uri],
                                                        "token_endpoint_auth_method": "none"})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_redirect_uri"


@pytest.mark.parametrize(("registered", "requested", "accepted"), [
    ("http://127.0.0.1:48123/oauth/callback", "http://127.0.0.1:50999/oauth/callback", True),  # RFC 8252: any port
    ("http://localhost:3334/oauth/callback", "http://localhost:41000/oauth/callback", True),
    ("http://127.0.0.1:48123/oauth/callback", "http://127.0.0.1:48123/other", False),
    ("http://127.0.0.1:48123/oauth/callback", "http://localhost:48123/oauth/callback", False),
    ("https://claude.ai/api/mcp/auth_callback", "https://claude.ai/api/mcp/auth_callback", True),
    ("https://claude.ai/api/mcp/auth_callback", "https://claude.ai:8443/api/mcp/auth_callback", False),
    ("https://claude.ai/api/mcp/auth_callback", "https://claude.ai/api/mcp/auth_callback/", False),
    ("https://claude.ai/api/mcp/auth_callback", "https://evil.example/api/mcp/auth_callback", False),
])
def test_redirect_uris_match_exactly_but_for_a_loopback_port(oauth, registered, requested, accepted):
    oauth.redirect_uri = registered
    oauth.register()
    response = oauth.consent_page(redirect_uri=requested)
    if accepted:
        assert response.status_code == 200
    else:  # never redirected anywhere: the person sees why
        assert response.status_code == 400 and "Location" not in response.headers
        assert "cannot connect" in response.get_data(as_text=True)


def test_an_unknown_client_gets_a_page_not_a_redirect(oauth):
    oauth.client_id = "dcr_nobody"
    response = oauth.consent_page()
    assert response.status_code == 400 and "Location" not in response.headers


def test_tokens_are_for_this_servers_mcp_endpoint_only(oauth, deployment):
    oauth.register()
    answer = oauth.consent_page(resource="https://other.example/mcp")
    returned = query(answer.headers["Location"])
    assert returned["error"] == "invalid_target" and returned["iss"] == "http://localhost"
    code = oauth.code()
    assert oauth.exchange(code, resource="https://other.example/mcp").get_json()["error"] == "invalid_target"
    tokens = oauth.exchange(oauth.code(resource="HTTP://LOCALHOST/mcp/")).get_json()  # canonical form: accepted
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert oauth.mcp(tokens["access_token"]).status_code == 200
    for path in ("/v1/context", "/v1/context/all.md", "/v1/mcp/config?client=cursor"):
        refused = oauth.http.get(path, headers=bearer)
        assert refused.status_code == 401 and "works nowhere else" in refused.get_json()["detail"]
    elsewhere = create_app(deployment.settings.model_copy(update={"public_url": "https://sylo.other.example"}),
                           deployment.appdb).test_client()
    assert elsewhere.post("/mcp", json=MCP_INIT, headers=bearer).status_code == 401
    assert oauth.refresh(tokens["refresh_token"], resource="https://other.example/mcp").get_json()["error"] == \
        "invalid_target"


def test_an_expired_access_token_is_refused(oauth, deployment):
    tokens = oauth.tokens()
    assert oauth.mcp(tokens["access_token"]).status_code == 200
    expire(deployment, oauth_tokens, oauth_tokens.c.kind, "access")
    refused = oauth.mcp(tokens["access_token"])
    assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert oauth.mcp(oauth.refresh(tokens["refresh_token"]).get_json()["access_token"]).status_code == 200


def test_a_refresh_token_works_once_and_a_replay_ends_the_grant(oauth):
    tokens = oauth.tokens()
    fresh = oauth.refresh(tokens["refresh_token"]).get_json()
    replay = oauth.refresh(tokens["refresh_token"])
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    assert oauth.mcp(fresh["access_token"]).status_code == 401  # someone else held a copy: all of it ends
    assert oauth.refresh(fresh["refresh_token"]).get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize(("asked", "granted"), [("openid offline_access", "context:read commands:write"),
                                                ("context:read openid", "context:read"), (None, "context:read commands:write")])
def test_scopes_sylo_does_not_know_are_ignored(oauth, asked, granted):
    assert oauth.tokens(scope=asked)["scope"] == granted


def test_a_refresh_cannot_widen_the_scope(oauth):
    tokens = oauth.tokens(scope="context:read")
    assert tokens["scope"] == "context:read"
    assert oauth.refresh(tokens["refresh_token"], scope="context:read commands:write").get_json()["error"] == \
        "invalid_scope"


def test_without_commands_the_action_tools_are_hidden_and_refused(oauth):
    oauth.register()
    tokens = oauth.exchange(oauth.code(commands=False)).get_json()
    assert tokens["scope"] == "context:read"
    names = {t["name"] for t in oauth.mcp(tokens["access_token"]).get_json()["result"]["tools"]}
    assert names == READ_TOOLS
    call = {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "asana_comment", "arguments": {"task_gid": "1", "text": "hi"}}}
    refused = oauth.mcp(tokens["access_token"], call)
    assert refused.status_code == 403
    challenge = refused.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="context:read commands:write"' in challenge
    read = {"jsonrpc": "2.0", "id": 4, "method": "resources/list", "params": {}}
    assert oauth.mcp(tokens["access_token"], read).status_code == 200


def test_a_denial_goes_back_with_access_denied_and_iss(oauth, deployment):
    oauth.register()
    answer = oauth.approve(decision="deny")
    returned = query(answer.headers["Location"])
    assert (returned["error"], returned["state"], returned["iss"]) == ("access_denied", oauth.state, "http://localhost")
    assert not [r for r in rows(deployment, oauth_codes) if r["client_id"] == oauth.client_id]


def test_the_consent_form_needs_the_session_and_its_csrf_token(oauth_app, oauth):
    oauth.register()
    params = oauth.authorization_params()
    forged = oauth.http.post("/oauth/authorize", data={**params, "decision": "allow", "csrf_token": "forged"})
    assert forged.status_code == 403
    stranger = oauth_app.test_client().post("/oauth/authorize", data={**params, "decision": "allow"})
    assert stranger.status_code == 302 and stranger.headers["Location"].startswith("/login?next=")


def test_the_consent_page_lets_the_browser_return_to_the_app(oauth):
    oauth.register()
    policy = oauth.consent_page().headers["Content-Security-Policy"]
    assert "form-action 'self' http://127.0.0.1:48123" in policy and "frame-ancestors 'none'" in policy


def test_static_api_tokens_keep_working_everywhere(client, deployment, owner):
    headers = deployment.headers(owner)
    assert client.get("/v1/context", headers=headers).status_code == 200
    listed = client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=headers)
    assert "asana_create_task" in {t["name"] for t in listed.get_json()["result"]["tools"]}


def test_codes_tokens_and_secrets_are_stored_only_as_hashes(oauth, deployment):
    registered = oauth.register(token_endpoint_auth_method="client_secret_basic")
    code = oauth.code()
    tokens = oauth.exchange(code).get_json()
    fresh = oauth.refresh(tokens["refresh_token"]).get_json()
    stored = repr([rows(deployment, table) for table in (oauth_clients, oauth_codes, oauth_grants, oauth_tokens)])
    for secret in (registered["client_secret"], code, tokens["access_token"], tokens["refresh_token"],
                   fresh["access_token"], fresh["refresh_token"]):
        assert secret not in stored
        assert base64.b64encode(secret.encode()).decode()[:20] not in stored


def test_grant_refresh_and_revoke_are_audited_for_the_owner(oauth, deployment, owner):
    oauth.register(client_name="Audited Agent")
    tokens = oauth.exchange(oauth.code()).get_json()
    oauth.refresh(tokens["refresh_token"])
    oauth.revoke(tokens["access_token"])
    with deployment.appdb.engine.connect() as conn:
        entries = conn.execute(sa.select(audit_log.c.kind, audit_log.c.user_id, audit_log.c.detail)
                               .where(audit_log.c.detail.like("%Audited Agent%")).order_by(audit_log.c.id)).all()
    assert [(e.kind, e.user_id) for e in entries] == [("oauth.granted", owner), ("oauth.refreshed", owner),
                                                      ("oauth.revoked", owner)]
    assert "may now: read your context and send commands" in entries[0].detail


def test_activity_tells_the_owner_about_apps_in_plain_words(oauth):
    oauth.register(client_name="Studio <b>Agent</b>")
    tokens = oauth.exchange(oauth.code()).get_json()
    fresh = oauth.refresh(tokens["refresh_token"]).get_json()
    oauth.refresh(tokens["refresh_token"])  # a replayed refresh token: Sylo ends the grant
    page = oauth.http.get("/activity").get_data(as_text=True)
    assert "You let an app use Sylo" in page and "An app&#39;s access to Sylo ended" in page
    assert "used twice" in page and "ended by Sylo" in page
    assert "Studio &lt;b&gt;Agent&lt;/b&gt;" in page and "<b>Agent</b>" not in page
    assert not re.search(r"oauth[ ._](granted|revoked|refreshed)", page, re.I)  # no raw audit kinds
    assert "refreshed its access" not in page and fresh["access_token"] not in page


def test_the_owner_sees_each_allowed_app_and_removes_it_at_once(oauth, deployment):
    oauth.register(client_name="Laptop Claude")
    tokens = oauth.exchange(oauth.code()).get_json()
    oauth.mcp(tokens["access_token"])
    page = oauth.http.get("/agents").get_data(as_text=True)
    row = re.search(r'<tr data-grant-id="(grt_\w+)">\s*<td>Laptop Claude</td>(.*?)</tr>', page, re.S)
    assert row and "read your context and send commands" in row.group(2) and "an app on this computer" in row.group(2)
    assert "not yet" not in row.group(2)  # last used: the tools/list just now
    answer = oauth.http.post(f"/agents/grants/{row.group(1)}/revoke", data={"csrf_token": csrf(page)})
    assert answer.status_code == 302
    assert oauth.mcp(tokens["access_token"]).status_code == 401
    assert "Laptop Claude" not in oauth.http.get("/agents").get_data(as_text=True)


def test_one_owner_cannot_remove_anothers_app(oauth, oauth_app, deployment):
    tokens = oauth.tokens()
    [grant] = [r for r in rows(deployment, oauth_grants) if r["client_id"] == oauth.client_id]
    other = oauth_app.test_client()
    token, _ = Accounts(deployment.appdb.engine).start_session(deployment.users[1])
    other.set_cookie("sylo_session", token)
    page = other.get("/agents")
    assert grant["id"] not in page.get_data(as_text=True)  # bob's page does not show alice's app
    other.post(f"/agents/grants/{grant['id']}/revoke", data={"csrf_token": csrf(page.get_data(as_text=True))})
    assert oauth.mcp(tokens["access_token"]).status_code == 200


def test_registration_is_throttled_per_address(deployment):
    app = create_app(deployment.settings.model_copy(update={"oauth_registrations_per_hour": 2}), deployment.appdb)
    http = app.test_client()
    body = {"client_name": "x", "redirect_uris": ["http://127.0.0.1:1/cb"], "token_endpoint_auth_method": "none"}
    environ = {"REMOTE_ADDR": "198.51.100.7"}
    answers = [http.post("/oauth/register", json=body, environ_base=environ).status_code for _ in range(3)]
    assert answers == [201, 201, 429]
    assert http.post("/oauth/register", json=body, environ_base={"REMOTE_ADDR": "198.51.100.8"}).status_code == 201


@pytest.mark.parametrize(("data", "status"), [(b"x" * 20_000, 413), (b"not json", 400), (b"[1]", 400),
                                              (b'{"redirect_uris": []}', 400)])
def test_registration_refuses_bodies_it_cannot_use(oauth, data, status):
    response = oauth.http.post("/oauth/register", data=data, content_type="application/json")
    assert response.status_code == status and response.get_json()["error"].startswith("invalid_")
