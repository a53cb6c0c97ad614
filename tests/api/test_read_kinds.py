"""What an agent may read (issue 17 item 4): a token or OAuth grant limited to some document kinds
reads those and nothing else, through every route that returns a document.

The leak check is by content, not only by status: the Gmail thread ids and subjects of the user's
communications document are markers, and no answer a `financials`-only caller gets, on /v1 or on
/mcp, static token or OAuth, may contain one of them.
"""

from __future__ import annotations

import json
import re

import pytest

from api import create_app
from sylo import read_kinds
from sylo.accounts import Accounts
from sylo.export_layout import FORMATS, KINDS, ExportLayout
from tests.api.oauth_client import OAuthClient, csrf, query

ACCEPTS = ["text/markdown", "application/json", "application/yaml", "*/*", None]
FORBIDDEN = [kind for kind in KINDS if kind != "financials"]  # all included: it is made of every kind


@pytest.fixture(scope="module")
def kinds_app(deployment):
    return create_app(deployment.settings.model_copy(update={"oauth_registrations_per_hour": 10_000}),
                      deployment.appdb)


@pytest.fixture(scope="module")
def owner(deployment) -> str:
    return deployment.users[0]


@pytest.fixture(scope="module")
def bookkeeper(deployment, owner) -> str:
    """A static API token that may read financials only."""
    return deployment.appdb.issue_token(owner, "bookkeeper", kinds=("financials",))[1]


@pytest.fixture(scope="module")
def markers(deployment, owner) -> list[str]:
    """Strings only the communications document (and the all briefing) carries: thread ids and subjects."""
    layout = ExportLayout(deployment.settings.exports)
    threads = json.loads(layout.context(owner, "communications", "json").read_text())["threads"]
    found = [t["id"] for t in threads] + [t["subject"] for t in threads if t["subject"] and len(t["subject"]) > 12]
    financials = "".join(layout.context(owner, "financials", fmt).read_text() for fmt in FORMATS)
    found = [m for m in found if m not in financials]
    assert len(found) >= 5, "the test world needs mail threads to look for"
    return found


def leaks(text: str, markers: list[str]) -> list[str]:
    return [m for m in markers if m in text]


@pytest.fixture(scope="module")
def oauth_financials(kinds_app, owner) -> str:
    """An OAuth access token whose grant the owner limited to financials on the consent page."""
    oauth = _oauth(kinds_app, owner)
    oauth.register()
    params = oauth.authorization_params()
    page = oauth.http.get("/oauth/authorize", query_string=params)
    html = page.get_data(as_text=True)
    assert all(f'name="kinds" value="{kind}" checked' in html for kind in read_kinds.PARTS)
    form = {**params, "csrf_token": csrf(html), "decision": "allow", "commands": "yes", "kinds_shown": "yes",
            "kinds": ["financials"]}
    answer = oauth.http.post("/oauth/authorize", data=form)
    assert answer.status_code == 302, answer.get_data(as_text=True)[:300]
    tokens = oauth.exchange(query(answer.headers["Location"])["code"]).get_json()
    return tokens["access_token"]


def _oauth(app, owner) -> OAuthClient:
    http = app.test_client()
    http.set_cookie("sylo_session", Accounts(app.extensions["sylo"].appdb.engine).start_session(owner)[0])
    return OAuthClient(http)


# -- /v1/context ----------------------------------------------------------------------------------

def test_the_listing_shows_only_the_kinds_the_token_may_read(kinds_app, bookkeeper):
    body = kinds_app.test_client().get("/v1/context", headers=_bearer(bookkeeper)).get_json()
    assert body["kinds"] == ["financials"]
    assert {doc["name"] for doc in body["documents"]} == {f"financials.{fmt}" for fmt in FORMATS}


@pytest.mark.parametrize("kind", FORBIDDEN)
@pytest.mark.parametrize("suffix", [f".{fmt}" for fmt in FORMATS] + [""])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_every_other_kind_is_a_403_that_names_it(kinds_app, bookkeeper, markers, kind, suffix, method):
    for accept in ACCEPTS if not suffix else [None]:
        headers = _bearer(bookkeeper) | ({"Accept": accept} if accept else {})
        response = kinds_app.test_client().open(f"/v1/context/{kind}{suffix}", method=method, headers=headers)
        assert response.status_code == 403
        if method == "GET":
            problem = response.get_json()
            assert problem["type"] == "urn:sylo:problem:kind-not-readable" and problem["kind"] == kind
            assert "may not read" in problem["detail"] and kind in problem["detail"]
            assert problem["readable"] == ["financials"]
            assert not leaks(response.get_data(as_text=True), markers)


def test_a_forbidden_kind_stays_forbidden_with_a_matching_etag(kinds_app, deployment, owner, bookkeeper):
    etag = kinds_app.test_client().get("/v1/context/communications.md", headers=deployment.headers(owner)).headers["ETag"]
    response = kinds_app.test_client().get("/v1/context/communications.md",
                                           headers=_bearer(bookkeeper) | {"If-None-Match": etag})
    assert response.status_code == 403 and "ETag" not in response.headers


@pytest.mark.parametrize("fmt", FORMATS)
def test_it_reads_financials(kinds_app, deployment, owner, bookkeeper, fmt):
    response = kinds_app.test_client().get(f"/v1/context/financials.{fmt}", headers=_bearer(bookkeeper))
    assert response.status_code == 200
    assert response.data == ExportLayout(deployment.settings.exports).context(owner, "financials", fmt).read_bytes()


def test_a_token_with_every_kind_still_reads_all(kinds_app, deployment, owner):
    assert kinds_app.test_client().get("/v1/context/all.md", headers=deployment.headers(owner)).status_code == 200
    token = deployment.appdb.issue_token(owner, "everything, named", kinds=read_kinds.PARTS)[1]
    assert kinds_app.test_client().get("/v1/context/all.md", headers=_bearer(token)).status_code == 200
    listing = kinds_app.test_client().get("/v1/context", headers=_bearer(token)).get_json()
    assert listing["kinds"] == list(KINDS)


# -- MCP, with a static token and with an OAuth access token ------------------------------------

@pytest.fixture(params=["static", "oauth"])
def mcp(request, kinds_app, bookkeeper, oauth_financials):
    token = bookkeeper if request.param == "static" else oauth_financials
    client, ids = kinds_app.test_client(), iter(range(1, 10_000))

    def call(method: str, params: dict | None = None) -> tuple[dict, str]:
        body = {"jsonrpc": "2.0", "id": next(ids), "method": method, "params": params or {}}
        response = client.post("/mcp", json=body, headers=_bearer(token) | {"Accept": "application/json"})
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json(), response.get_data(as_text=True)

    return call


def test_mcp_lists_only_financials(mcp, markers):
    listed, text = mcp("resources/list")
    assert [r["uri"] for r in listed["result"]["resources"]] == ["sylo://context/financials.md"]
    assert not leaks(text, markers)
    docs, text = mcp("tools/call", {"name": "list_context_docs", "arguments": {}})
    assert {d["kind"] for d in docs["result"]["structuredContent"]["documents"]} == {"financials"}
    template = mcp("resources/templates/list")[0]["result"]["resourceTemplates"][0]
    assert "communications" not in template["description"]


@pytest.mark.parametrize("kind", FORBIDDEN)
def test_mcp_refuses_every_other_kind_in_every_format(mcp, markers, kind):
    for fmt in FORMATS:
        read, text = mcp("resources/read", {"uri": f"sylo://context/{kind}.{fmt}"})
        assert "error" in read and "may not read" in read["error"]["message"] and not leaks(text, markers)
        called, text = mcp("tools/call", {"name": "get_context_doc", "arguments": {"kind": kind, "format": fmt}})
        result = called["result"]
        assert result["isError"] is True and "may not read" in result["content"][0]["text"]
        assert not leaks(text, markers)


def test_mcp_reads_financials(mcp, deployment, owner):
    expected = ExportLayout(deployment.settings.exports).context(owner, "financials", "md").read_text()
    read, _ = mcp("resources/read", {"uri": "sylo://context/financials.md"})
    assert read["result"]["contents"][0]["text"] == expected
    called, _ = mcp("tools/call", {"name": "get_context_doc", "arguments": {"kind": "financials"}})
    assert called["result"]["isError"] is False and called["result"]["content"][0]["text"] == expected


def test_every_prompt_and_read_tool_keeps_to_financials(mcp, markers):
    """Whatever the limited caller can list or call that returns content: none of it is mail."""
    prompts = [p["name"] for p in mcp("prompts/list")[0]["result"]["prompts"]]
    assert "daily_briefing" in prompts and "chase_overdue_invoices" in prompts
    for name, arguments in [("daily_briefing", {}), ("chase_overdue_invoices", {}),
                            ("chase_overdue_invoices", {"min_days_overdue": "0"})]:
        got, text = mcp("prompts/get", {"name": name, "arguments": arguments})
        assert "result" in got and not leaks(text, markers)
    briefing = mcp("prompts/get", {"name": "daily_briefing"})[0]["result"]["messages"]
    embedded = [m["content"]["resource"]["uri"] for m in briefing if m["content"]["type"] == "resource"]
    assert embedded == ["sylo://context/financials.md"]
    tools = mcp("tools/list")[0]["result"]["tools"]
    for described in tools:
        if described["annotations"]["readOnlyHint"] and described["name"] != "get_command_status":
            for arguments in _arguments_for(described):
                _, text = mcp("tools/call", {"name": described["name"], "arguments": arguments})
                assert not leaks(text, markers), described["name"]


def _arguments_for(described: dict) -> list[dict]:
    """Every kind and format for a tool that takes them, else no arguments."""
    properties = described["inputSchema"].get("properties", {})
    if "kind" not in properties:
        return [{}]
    return [{"kind": kind, "format": fmt} for kind in KINDS for fmt in FORMATS]


def test_without_financials_the_chase_prompt_is_not_offered(kinds_app, deployment, owner, markers):
    token = deployment.appdb.issue_token(owner, "project lead", kinds=("projects", "tasks", "communications"))[1]
    body = {"jsonrpc": "2.0", "id": 1, "method": "prompts/list", "params": {}}
    listed = kinds_app.test_client().post("/mcp", json=body, headers=_bearer(token)).get_json()
    assert [p["name"] for p in listed["result"]["prompts"]] == ["daily_briefing"]
    body = {"jsonrpc": "2.0", "id": 2, "method": "prompts/get", "params": {"name": "chase_overdue_invoices"}}
    got = kinds_app.test_client().post("/mcp", json=body, headers=_bearer(token)).get_json()
    assert "overdue_invoices" not in json.dumps(got) and "may not read" in json.dumps(got)


# -- setting the kinds: consent page, Agent setup, CLI ----------------------------------------------

def test_unticking_every_kind_on_the_consent_page_drops_reading(kinds_app, owner):
    oauth = _oauth(kinds_app, owner)
    oauth.register()
    params = oauth.authorization_params()
    html = oauth.http.get("/oauth/authorize", query_string=params).get_data(as_text=True)
    form = {**params, "csrf_token": csrf(html), "decision": "allow", "commands": "yes", "kinds_shown": "yes"}
    answer = oauth.http.post("/oauth/authorize", data=form)
    tokens = oauth.exchange(query(answer.headers["Location"])["code"]).get_json()
    assert tokens["scope"] == "commands:write"
    listed = oauth.mcp(tokens["access_token"], {"jsonrpc": "2.0", "id": 1, "method": "resources/list"})
    assert listed.status_code == 403


def test_agent_setup_creates_a_limited_token_and_shows_what_each_reads(kinds_app, deployment, owner,
                                                                       oauth_financials):
    http = _oauth(kinds_app, owner).http
    page = http.get("/agents").get_data(as_text=True)
    form = {"csrf_token": csrf(page), "label": "Xero helper", "kinds_shown": "yes", "kinds": ["financials", "tasks"]}
    assert http.post("/agents/tokens", data=form).status_code == 303
    page = http.get("/agents").get_data(as_text=True)
    token = re.search(r'id="new-token">(sylo_[^<]+)<', page).group(1)
    assert deployment.appdb.token_owner(token).kinds == ("tasks", "financials")
    row = re.search(r"Xero helper</td><td>([^<]+)</td>", page).group(1)
    assert row == "tasks and financials"
    assert re.search(r"Test Agent</td><td>read financials and send commands</td>", page)
    empty = {"csrf_token": csrf(page), "label": "nothing", "kinds_shown": "yes"}
    http.post("/agents/tokens", data=empty)
    assert "nothing" not in [t.label for t in deployment.appdb.tokens(owner)]


def test_the_cli_issues_a_token_for_some_kinds(deployment, owner, monkeypatch):
    from click.testing import CliRunner

    from cli.users import users_group

    monkeypatch.setenv("SYLO_DATA_DIR", str(deployment.settings.data_dir))
    runner = CliRunner()
    made = runner.invoke(users_group, ["token", owner, "--kinds", "financials", "--json"])
    assert made.exit_code == 0, made.output
    issued = json.loads(made.output)
    assert issued["kinds"] == ["financials"]
    assert deployment.appdb.token_owner(issued["api_token"]).kinds == ("financials",)
    listed = runner.invoke(users_group, ["tokens", owner]).output
    assert f"{issued['token_id']}" in listed and "reads financials" in listed
    wrong = runner.invoke(users_group, ["token", owner, "--kinds", "mail"])
    assert wrong.exit_code != 0 and "unknown document kind 'mail'" in wrong.output


def test_existing_tokens_and_grants_read_every_kind(deployment, owner):
    assert read_kinds.parse(None) == read_kinds.PARTS
    assert deployment.appdb.token_owner(deployment.tokens[owner]).kinds == read_kinds.PARTS
    assert set(read_kinds.WORDS) == set(read_kinds.PARTS) == set(KINDS) - {"all"}


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
