"""Each MCP client config, expanded the way its client expands it, authenticates against /mcp.

The expansion rules are the clients' own (reference/protocols.md §1.8, §1.8b): Claude Code
expands `${VAR}` and `${VAR:-default}` in `url` and `headers`; Cursor `${env:VAR}`; VS Code
`${input:id}` (asking for each declared input) and `${env:VAR}`; Claude Desktop passes `env`
verbatim to the command, and `mcp-remote` expands `${VAR}` in its arguments from that environment,
once. A config whose token never reaches the server intact is the bug issue 12 reported.
"""

from __future__ import annotations

import json
import re

import pytest

from sylo import mcp_configs
from sylo.export_layout import CLIENTS
from tests.api.oauth_client import MCP_INIT, OAuthClient
from sylo.accounts import Accounts


def claude_code(config: dict, env: dict) -> tuple[str, dict]:
    server = config["mcpServers"]["sylo"]

    def expand(text: str) -> str:
        def one(match):
            if match[1] in env:
                return env[match[1]]
            if match[2] is None:
                raise KeyError(f"Claude Code refuses the config: {match[1]} is not set")
            return match[2]
        return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}", one, text)

    return expand(server["url"]), {k: expand(v) for k, v in server.get("headers", {}).items()}


def cursor(config: dict, env: dict) -> tuple[str, dict]:
    server = config["mcpServers"]["sylo"]
    expand = lambda text: re.sub(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env.get(m[1], ""), text)  # noqa: E731
    return expand(server["url"]), {k: expand(v) for k, v in server.get("headers", {}).items()}


def vscode(config: dict, env: dict, answers: dict) -> tuple[str, dict]:
    declared = {item["id"] for item in config.get("inputs", [])}
    server = config["servers"]["sylo"]
    assert server["type"] == "http"

    def expand(text: str) -> str:
        text = re.sub(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env.get(m[1], ""), text)
        return re.sub(r"\$\{input:([^}]+)\}", lambda m: answers[m[1]] if m[1] in declared else m[0], text)

    return expand(server["url"]), {k: expand(v) for k, v in server.get("headers", {}).items()}


def claude_desktop(config: dict, env: dict) -> tuple[str, dict]:
    """Claude Desktop starts `command args` with `env` as given; mcp-remote expands ${VAR} in args, once.

    mcp-remote 0.15.1 (`substituteEnvVars`) leaves a reference to an unset variable as it is."""
    server = config["mcpServers"]["sylo"]
    assert server["command"] == "npx" and server["args"][:2] == ["-y", "mcp-remote"]
    process_env = {**env, **server.get("env", {})}  # verbatim: no expansion of the values
    args = [re.sub(r"\$\{([^}]+)\}", lambda m: process_env.get(m[1], m[0]), arg) for arg in server["args"][2:]]
    headers = {}
    for flag, value in zip(args, args[1:]):
        if flag == "--header":  # mcp-remote's parseHeaderLine: ^([A-Za-z0-9_-]+):\s*(.*)$
            match = re.fullmatch(r"([A-Za-z0-9_-]+):\s*(.*)", value)
            headers[match[1]] = match[2]
    return args[0], headers


def expanded(client: str, config: dict, token: str) -> tuple[str, dict]:
    """The URL and headers the client ends up sending, with the token where the person put it."""
    env = {mcp_configs.TOKEN_VARIABLE: token}
    if client == "vscode":
        return vscode(config, env, {mcp_configs.VSCODE_INPUT: token})
    return {"claude-code": claude_code, "cursor": cursor, "claude-desktop": claude_desktop}[client](config, env)


def initialize(client, url: str, headers: dict):
    path = url.removeprefix("http://localhost")
    assert path == "/mcp", url
    return client.post(path, json=MCP_INIT, headers={**headers, "Accept": "application/json, text/event-stream"})


@pytest.mark.parametrize("client_name", CLIENTS)
@pytest.mark.parametrize("variant", ["shareable", "personal"])
def test_each_config_authenticates_as_its_client_expands_it(client, deployment, client_name, variant):
    alice = deployment.users[0]
    token = deployment.tokens[alice]
    response = client.get(f"/v1/mcp/config?client={client_name}&variant={variant}", headers=deployment.headers(alice))
    config = response.get_json()
    if variant == "shareable":
        assert token not in response.get_data(as_text=True)
    url, headers = expanded(client_name, config, token)
    answer = initialize(client, url, headers)
    if client_name == "claude-desktop" and variant == "shareable":
        assert "Authorization" not in headers  # it signs in instead: the 401 must lead somewhere that works
        assert answer.status_code == 401 and "resource_metadata=" in answer.headers["WWW-Authenticate"]
        return
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["result"]["serverInfo"]["name"] == "sylo"


def test_claude_desktops_config_signs_in_and_then_connects(oauth_ready):
    """mcp-remote with no token: the 401 leads to discovery and registration (not a 404), then OAuth."""
    http, owner_client = oauth_ready
    config = mcp_configs.config("claude-desktop", "http://localhost")
    url, headers = claude_desktop(config, {})
    challenge = initialize(http, url, headers).headers["WWW-Authenticate"]
    assert 'resource_metadata="http://localhost/.well-known/oauth-protected-resource/mcp"' in challenge
    metadata = owner_client.discover()
    assert metadata["registration_endpoint"] == "http://localhost/oauth/register"
    owner_client.redirect_uri = "http://localhost:3334/oauth/callback"  # where mcp-remote listens
    tokens = owner_client.tokens()
    answer = initialize(http, url, {"Authorization": f"Bearer {tokens['access_token']}"})
    assert answer.status_code == 200


def test_a_bad_token_is_told_where_to_sign_in_not_left_at_a_404(client):
    """What mcp-remote met before: any 401 sent it to /register, which did not exist."""
    answer = client.post("/mcp", json=MCP_INIT, headers={"Authorization": "Bearer ${SYLO_API_TOKEN}"})
    assert answer.status_code == 401 and 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    registered = client.post("/oauth/register", json={"client_name": "mcp-remote", "token_endpoint_auth_method": "none",
                                                      "redirect_uris": ["http://localhost:3334/oauth/callback"]})
    assert registered.status_code == 201


def test_exported_configs_are_the_shareable_ones(deployment):
    export = deployment.settings.exports
    alice = deployment.users[0]
    for client_name in CLIENTS:
        exported = json.loads((export / alice / "mcp" / f"{client_name}.json").read_text())
        assert exported == mcp_configs.config(client_name, "http://testserver")


@pytest.fixture
def oauth_ready(app, deployment):
    http = app.test_client()
    token, _ = Accounts(deployment.appdb.engine).start_session(deployment.users[0])
    http.set_cookie("sylo_session", token)
    return http, OAuthClient(http)
