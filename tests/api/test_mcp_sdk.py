"""The official MCP Python SDK (v2) against a real running server, in `auto` and `legacy` modes."""

from __future__ import annotations

import json

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from sylo.export_layout import KINDS, ExportLayout

pytestmark = pytest.mark.anyio
MODES = ["auto", "legacy"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def connect(url: str, token: str, mode: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30))
    return Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=mode)


@pytest.mark.parametrize("mode", MODES)
async def test_the_sdk_connects_in_the_era_it_asks_for(live_url, deployment, mode):
    async with connect(live_url, deployment.tokens[deployment.users[0]], mode) as client:
        assert client.protocol_version == {"auto": "2026-07-28", "legacy": "2025-11-25"}[mode]
        assert client.server_capabilities.resources is not None and client.server_capabilities.tools is not None


@pytest.mark.parametrize("mode", MODES)
async def test_resources_list_and_read_the_callers_documents(live_url, deployment, mode):
    alice = deployment.users[0]
    export = ExportLayout(deployment.settings.exports)
    async with connect(live_url, deployment.tokens[alice], mode) as client:
        resources = (await client.list_resources()).resources
        assert [r.name for r in resources] == [f"{kind}.md" for kind in KINDS]  # one each; other formats: template
        by_name = {r.name: r for r in resources}
        assert str(by_name["all.md"].uri) == "sylo://context/all.md"
        assert by_name["all.md"].mime_type == "text/markdown"
        read = await client.read_resource("sylo://context/financials.json")
        assert read.contents[0].text == export.context(alice, "financials", "json").read_text()
        templates = (await client.list_resource_templates()).resource_templates
        assert templates[0].uri_template == "sylo://context/{kind}.{format}"


@pytest.mark.parametrize("mode", MODES)
async def test_reading_an_unknown_resource_is_an_error(live_url, deployment, mode):
    async with connect(live_url, deployment.tokens[deployment.users[0]], mode) as client:
        with pytest.raises(MCPError) as raised:
            await client.read_resource("sylo://context/../../app.db")
        assert raised.value.code in (-32002, -32602)


@pytest.mark.parametrize("mode", MODES)
async def test_tools_list_and_call(live_url, deployment, mode):
    alice = deployment.users[0]
    export = ExportLayout(deployment.settings.exports)
    async with connect(live_url, deployment.tokens[alice], mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert {"list_context_docs", "get_context_doc"} <= set(tools)
        assert tools["get_context_doc"].input_schema["properties"]["kind"]["enum"][0] == "all"
        assert tools["get_context_doc"].annotations.read_only_hint is True
        listed = await client.call_tool("list_context_docs", {})
        assert listed.is_error is False
        assert len(listed.structured_content["documents"]) == 15
        doc = await client.call_tool("get_context_doc", {"kind": "tasks", "format": "md"})
        assert doc.is_error is False
        assert doc.content[0].text == export.context(alice, "tasks", "md").read_text()


@pytest.mark.parametrize("mode", MODES)
async def test_failures_come_back_as_is_error_results(live_url, deployment, mode):
    carol = deployment.users[2]  # nothing exported
    async with connect(live_url, deployment.tokens[carol], mode) as client:
        missing = await client.call_tool("get_context_doc", {"kind": "all"})
        assert missing.is_error is True and "not been exported" in missing.content[0].text
        bad = await client.call_tool("get_context_doc", {"kind": "secrets"})
        assert bad.is_error is True and "Invalid arguments" in bad.content[0].text
        assert (await client.call_tool("list_context_docs", {})).is_error is True
        with pytest.raises(MCPError) as raised:
            await client.call_tool("no_such_tool", {})
        assert raised.value.code == -32602


@pytest.mark.parametrize("mode", MODES)
async def test_a_bad_token_cannot_connect(live_url, mode):
    with pytest.raises(BaseException) as raised:
        async with connect(live_url, "sylo_wrong", mode) as client:
            await client.list_resources()
    assert "error" in repr(raised.value).lower()


@pytest.mark.parametrize("mode", MODES)
async def test_one_users_session_never_sees_anothers_documents(live_url, deployment, mode):
    alice, bob = deployment.users[:2]
    export = ExportLayout(deployment.settings.exports)
    async with connect(live_url, deployment.tokens[bob], mode) as client:
        text = (await client.read_resource("sylo://context/all.md")).contents[0].text
        assert text == export.context(bob, "all", "md").read_text()
        assert text != export.context(alice, "all", "md").read_text()
        for name in ("all", "projects", "financials"):
            doc = (await client.call_tool("get_context_doc", {"kind": name, "format": "json"})).content[0].text
            assert alice not in doc


@pytest.mark.parametrize("mode", MODES)
async def test_the_sdk_reads_structured_documents_and_prompts(live_url, deployment, mode):
    """The SDK checks structuredContent against the tool's outputSchema itself: a mismatch would raise."""
    alice = deployment.users[0]
    export = ExportLayout(deployment.settings.exports)
    async with connect(live_url, deployment.tokens[alice], mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["get_context_doc"].output_schema["required"] == ["kind", "format", "uri", "generated_at"]
        result = await client.call_tool("get_context_doc", {"kind": "financials", "format": "json"})
        assert result.structured_content["document"] == json.loads(export.context(alice, "financials", "json").read_text())
        prompts = [p.name for p in (await client.list_prompts()).prompts]
        assert prompts == ["daily_briefing", "chase_overdue_invoices"]
        briefing = await client.get_prompt("daily_briefing")
        assert briefing.messages[1].content.resource.text == export.context(alice, "all", "md").read_text()
