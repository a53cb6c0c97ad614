"""POST /mcp at the wire: the transport's HTTP rules and both eras' message rules, one by one."""

from __future__ import annotations

import base64
import json

import pytest

MODERN = "2026-07-28"


def meta(version: str = MODERN, capabilities: dict | None = None) -> dict:
    body = {"io.modelcontextprotocol/protocolVersion": version}
    if capabilities is not None:
        body["io.modelcontextprotocol/clientCapabilities"] = capabilities
    return body


def modern(method: str, params: dict | None = None, *, version: str = MODERN, name: str | None = None,
           capabilities: dict | None = None, request_id=1) -> tuple[dict, dict]:
    params = {**(params or {}), "_meta": meta(version, {} if capabilities is None else capabilities)}
    headers = {"MCP-Protocol-Version": version, "Mcp-Method": method}
    if name is not None:
        headers["Mcp-Name"] = name
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}, headers


@pytest.fixture
def post(client, deployment):
    token_headers = deployment.headers(deployment.users[0])

    def send(body, headers=None, raw: bytes | None = None, content_type="application/json"):
        data = raw if raw is not None else json.dumps(body)
        return client.post("/mcp", data=data, headers={**token_headers, "Accept": "application/json, text/event-stream",
                                                       "Content-Type": content_type, **(headers or {})})
    return send


def test_initialize_negotiates_the_version(post):
    for asked, answered in [("2025-11-25", "2025-11-25"), ("2025-06-18", "2025-06-18"),
                            ("2025-03-26", "2025-03-26"), ("2024-11-05", "2025-11-25"), ("1999-01-01", "2025-11-25")]:
        response = post({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                         "params": {"protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
        result = response.get_json()["result"]
        assert result["protocolVersion"] == answered
        assert result["capabilities"] == {"resources": {}, "tools": {}, "prompts": {}}
        assert result["serverInfo"]["name"] == "sylo"
        assert "Mcp-Session-Id" not in response.headers
        assert "resultType" not in result


def test_notifications_and_responses_are_accepted_with_202(post):
    for body in ({"jsonrpc": "2.0", "method": "notifications/initialized"},
                 {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}},
                 {"jsonrpc": "2.0", "id": 9, "result": {}}):
        response = post(body)
        assert response.status_code == 202 and response.data == b""


def test_legacy_errors_travel_with_http_200(post):
    response = post({"jsonrpc": "2.0", "id": 2, "method": "resources/read", "params": {"uri": "sylo://context/x.md"}},
                    {"MCP-Protocol-Version": "2025-11-25"})
    assert response.status_code == 200
    assert response.get_json()["error"]["code"] == -32002
    unknown = post({"jsonrpc": "2.0", "id": 3, "method": "completion/complete"})
    assert unknown.status_code == 200 and unknown.get_json()["error"]["code"] == -32601


def test_legacy_rejects_an_unsupported_version_header(post):
    response = post({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, {"MCP-Protocol-Version": "2030-01-01"})
    assert response.status_code == 400
    assert response.get_json()["error"]["data"]["requested"] == "2030-01-01"


def test_discover_describes_the_server_for_the_modern_era(post):
    body, headers = modern("server/discover")
    result = post(body, headers).get_json()["result"]
    assert result["supportedVersions"][0] == MODERN and "2025-11-25" in result["supportedVersions"]
    assert result["resultType"] == "complete"
    assert result["ttlMs"] == 0 and result["cacheScope"] == "private"
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "sylo"


@pytest.mark.parametrize("method", ["resources/list", "tools/list", "resources/templates/list"])
def test_modern_list_results_carry_cache_hints(post, method):
    body, headers = modern(method)
    result = post(body, headers).get_json()["result"]
    assert (result["resultType"], result["ttlMs"], result["cacheScope"]) == ("complete", 0, "private")


def test_modern_read_checks_mcp_name_against_the_uri(post):
    uri = "sylo://context/all.md"
    body, headers = modern("resources/read", {"uri": uri}, name=uri)
    assert post(body, headers).status_code == 200
    body, headers = modern("resources/read", {"uri": uri}, name="sylo://context/tasks.md")
    response = post(body, headers)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == -32020


def test_base64_encoded_header_values_are_decoded(post):
    body, headers = modern("tools/call", {"name": "list_context_docs", "arguments": {}})
    headers["Mcp-Name"] = "=?base64?" + base64.b64encode(b"list_context_docs").decode() + "?="
    assert post(body, headers).get_json()["result"]["isError"] is False


@pytest.mark.parametrize("drop", ["MCP-Protocol-Version", "Mcp-Method"])
def test_missing_routing_headers_are_header_mismatches(post, drop):
    body, headers = modern("tools/list")
    del headers[drop]
    response = post(body, headers)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == -32020


def test_mcp_method_must_equal_the_body_method(post):
    body, headers = modern("tools/list")
    headers["Mcp-Method"] = "resources/list"
    assert post(body, headers).get_json()["error"]["code"] == -32020


def test_an_unsupported_modern_version_lists_what_is_supported(post):
    body, headers = modern("tools/list", version="2031-01-01")
    response = post(body, headers)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == -32022 and MODERN in error["data"]["supported"]


def test_modern_requests_must_declare_client_capabilities(post):
    body, headers = modern("tools/list")
    del body["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"]
    response = post(body, headers)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == -32602


def test_modern_unknown_methods_are_404_and_removed_methods_too(post):
    for method in ("completion/complete", "initialize", "ping"):
        body, headers = modern(method)
        response = post(body, headers)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == -32601


def test_modern_resource_not_found_is_invalid_params(post):
    uri = "sylo://context/nope.md"
    body, headers = modern("resources/read", {"uri": uri}, name=uri)
    response = post(body, headers)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == -32602


def test_a_legacy_request_with_other_meta_stays_legacy(post):
    response = post({"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {"_meta": {"progressToken": 1}}})
    result = response.get_json()["result"]
    assert "resultType" not in result and result["tools"]


@pytest.mark.parametrize(("raw", "code"), [(b"{not json", -32700), (b"[]", -32600),
                                           (b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]', -32600),
                                           (b'{"id":1,"method":"ping"}', -32600), (b'"text"', -32600),
                                           (b'{"jsonrpc":"2.0","id":{},"method":"ping"}', -32600)])
def test_malformed_messages_are_400(post, raw, code):
    response = post(None, raw=raw)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == code


def test_http_level_refusals(post, client, deployment):
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert post(ping, content_type="text/plain").status_code == 415
    assert post(ping, {"Accept": "text/html"}).status_code == 406
    assert post(None, raw=b" " * (1024 * 1024 + 1)).status_code == 413
    assert post(ping, {"Origin": "https://evil.example"}).status_code == 403
    assert post(ping, {"Origin": "http://127.0.0.1:8000"}).status_code == 200  # SYLO_PUBLIC_URL's origin
    unauthenticated = client.post("/mcp", json=ping)
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["WWW-Authenticate"].startswith("Bearer")
    for method in ("GET", "DELETE"):
        refused = client.open("/mcp", method=method, headers=deployment.headers(deployment.users[0]))
        assert refused.status_code == 405 and refused.headers["Allow"] == "POST"


def test_the_origin_check_comes_before_authentication(client):
    response = client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                           headers={"Origin": "http://attacker.example"})
    assert response.status_code == 403


@pytest.mark.parametrize("params", [
    {"name": [1]}, {"name": {"a": 1}}, {"name": None}, {"name": 7}, {},
    {"name": "get_context_doc", "arguments": [1]}, {"name": "get_context_doc", "arguments": "kind=all"},
], ids=["name a list", "name an object", "name null", "name a number", "no name", "arguments a list",
        "arguments a string"])
def test_tools_call_with_params_of_the_wrong_shape_is_invalid_params(post, params):
    response = post({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": params})
    assert response.status_code == 200  # handshake era: errors travel with HTTP 200
    error = response.get_json()["error"]
    assert error["code"] == -32602 and error["message"].startswith("Invalid params")


@pytest.mark.parametrize("raw", [b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"\\ud800"}}',
                                 b"[" * 30_000 + b"]" * 30_000],
                         ids=["lone surrogate", "nested 30,000 deep"])
def test_json_no_route_can_take_is_a_parse_error(post, raw):
    response = post(None, raw=raw)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == -32700
