"""The whole OAuth sign-in, as a real MCP client does it, with the consent page in Chromium (issue 12).

The official `mcp` client (its `OAuthClientProvider`) meets `/mcp`'s 401, discovers the
protected-resource and authorization-server metadata, registers itself, and hands the
authorization URL (PKCE S256, `resource`) to "the browser": Chromium, signed in to the dashboard,
where the owner allows it. Chromium follows the redirect to the client's loopback callback; the
client checks `state` and `iss`, exchanges the code and lists the tools with its token. Then the
token is refreshed (rotated) and revoked, and the next call is refused. The SDK runs in its own
thread: Playwright's sync API owns this one.
"""

from __future__ import annotations

import queue
import re
import threading

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from playwright.sync_api import expect
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.e2e.conftest import Shots

pytestmark = pytest.mark.slow
WAIT = 120  # seconds: budgets for a person-paced flow on a busy machine, never sleeps


class Memory:
    """The client's token storage."""

    def __init__(self):
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, client_info):
        self.client = client_info


class Callback:
    """The client's loopback redirect URI (RFC 8252): it receives the code from the browser."""

    def __init__(self):
        self.received: queue.Queue = queue.Queue()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @Request.application
    def app(self, request: Request) -> Response:
        self.received.put(dict(request.args))
        return Response("<h1>Signed in. You can close this tab.</h1>", content_type="text/html")


def run_in_thread(function):
    """Run an async function to completion on its own thread and event loop; return or raise its outcome."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = anyio.run(function)
        except BaseException as error:  # noqa: BLE001 (handed back to the test)
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def finished(thread, outcome):
    thread.join(WAIT)
    assert not thread.is_alive(), "the MCP client did not finish"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


async def list_tools(url: str, access_token: str) -> list[str]:
    headers = {"Authorization": f"Bearer {access_token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60)) as http:
        async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
            return [tool.name for tool in (await client.list_tools()).tools]


def test_an_mcp_client_signs_in_through_the_consent_page(demo, context, screenshots):
    shot, page = Shots(screenshots, "oauth"), context.new_page()
    mcp_url = f"{demo.url}/mcp"
    owner = next(user for user, link in demo.links.items() if user != "new-studio")
    page.goto(demo.links[owner])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()

    storage, callback, opened = Memory(), Callback(), queue.Queue()

    async def redirect_handler(url: str) -> None:
        opened.put(url)

    async def callback_handler() -> AuthorizationCodeResult:
        params = await anyio.to_thread.run_sync(lambda: callback.received.get(timeout=WAIT))
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    async def sign_in_and_list_tools():
        provider = OAuthClientProvider(
            mcp_url, OAuthClientMetadata(client_name="Sylo e2e agent", redirect_uris=[callback.url],
                                         grant_types=["authorization_code", "refresh_token"],
                                         response_types=["code"], token_endpoint_auth_method="none"),
            storage, redirect_handler, callback_handler)
        async with httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(60)) as http:
            async with Client(streamable_http_client(mcp_url, http_client=http), mode="auto") as client:
                return [tool.name for tool in (await client.list_tools()).tools]

    thread, outcome = run_in_thread(sign_in_and_list_tools)
    authorize_url = opened.get(timeout=WAIT)
    assert "code_challenge_method=S256" in authorize_url and "resource=" in authorize_url
    page.goto(authorize_url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Allow “Sylo e2e agent” to use Sylo?")
    expect(page.locator("main")).to_contain_text("an app on this computer")
    expect(page.get_by_label(re.compile("Act"))).to_be_checked()
    shot(page, "consent")
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_role("heading", name="Signed in. You can close this tab.")).to_be_visible()
    tools = finished(thread, outcome)
    assert {"get_context_doc", "asana_create_task"} <= set(tools)
    assert storage.tokens.scope == "context:read commands:write"

    page.goto(f"{demo.url}/agents")
    row = page.locator("tr[data-grant-id]").filter(has_text="Sylo e2e agent")
    expect(row).to_contain_text("read your context and send commands")
    expect(row).not_to_contain_text("not yet")  # last used: the tools/list just now
    shot(page, "agents-with-app")

    token_url = f"{demo.url}/oauth/token"
    client_id, old = storage.client.client_id, storage.tokens
    refreshed = httpx.post(token_url, data={"grant_type": "refresh_token", "refresh_token": old.refresh_token,
                                            "client_id": client_id, "resource": mcp_url}, timeout=30).json()
    assert refreshed["refresh_token"] != old.refresh_token and refreshed["access_token"] != old.access_token
    assert "asana_create_task" in finished(*run_in_thread(lambda: list_tools(mcp_url, refreshed["access_token"])))

    revoked = httpx.post(f"{demo.url}/oauth/revoke", data={"token": refreshed["refresh_token"], "client_id": client_id},
                         timeout=30)
    assert revoked.status_code == 200
    refused = httpx.post(mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                         headers={"Authorization": f"Bearer {refreshed['access_token']}"}, timeout=30)
    assert refused.status_code == 401 and "resource_metadata=" in refused.headers["WWW-Authenticate"]
    with pytest.raises(BaseException):  # the official client cannot connect with it either
        finished(*run_in_thread(lambda: list_tools(mcp_url, refreshed["access_token"])))
    page.goto(f"{demo.url}/agents")
    expect(page.locator("main")).not_to_contain_text("Sylo e2e agent")
    shot(page, "agents-after-revoke")
