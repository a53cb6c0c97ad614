"""MCP client configs: the shareable ones hold no secret and pass their schema; a token written in fails it."""

from __future__ import annotations

import json

import pytest

from sylo import mcp_configs
from sylo.export_layout import CLIENTS

TOKEN = "sylo_" + "k" * 43


@pytest.mark.parametrize("client", CLIENTS)
def test_shareable_configs_hold_no_secret_and_pass_their_schema(client):
    config = mcp_configs.config(client, "https://sylo.example")
    mcp_configs.validate(client, config)
    text = json.dumps(config)
    assert "https://sylo.example/mcp" in text and "sylo_" not in text
    assert "${" not in json.dumps(config.get("mcpServers", {}).get("sylo", {}).get("env", {}))  # never nested


@pytest.mark.parametrize("client", CLIENTS)
def test_a_config_with_the_token_written_in_fails_the_export_schema(client):
    personal = mcp_configs.config(client, "https://sylo.example", token=TOKEN)
    assert TOKEN in json.dumps(personal)
    with pytest.raises(ValueError, match="invalid"):
        mcp_configs.validate(client, personal)


def test_claude_desktop_sends_the_token_through_mcp_remote_with_the_space_in_env():
    server = mcp_configs.config("claude-desktop", "http://127.0.0.1:8000", token=TOKEN)["mcpServers"]["sylo"]
    assert server["args"][-2:] == ["--header", "Authorization:${SYLO_AUTH}"]
    assert server["env"] == {"SYLO_AUTH": f"Bearer {TOKEN}"}
    assert all(" " not in arg for arg in server["args"])


@pytest.mark.parametrize(("url", "allow_http"), [("http://127.0.0.1:8000", False), ("http://localhost:8000", False),
                                                 ("https://sylo.example", False), ("http://sylo.lan:8000", True)])
def test_mcp_remote_is_told_to_allow_plain_http_only_beyond_localhost(url, allow_http):
    args = mcp_configs.config("claude-desktop", url)["mcpServers"]["sylo"]["args"]
    assert ("--allow-http" in args) == allow_http
