"""Agent setup (issue 16): steps in the order they work, post-redirect-get for new secrets, configs that work.

A new token is shown once, written into each app's config, and a reload neither shows it again nor
creates another; it never sits in the browser's cookie in the clear. There is no "Rotate" before
there is a secret to rotate.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from urllib.parse import unquote

import pytest

from sylo.accounts import Accounts
from tests.api.oauth_client import MCP_INIT, csrf


@pytest.fixture
def owner(app, deployment):
    """A user of their own (tokens and secrets are counted), signed in."""
    user_id = f"setup-{len(deployment.appdb.list_users())}"
    deployment.appdb.create_user(user_id, f"{user_id}@studio.example")
    client = app.test_client()
    token, _ = Accounts(deployment.appdb.engine).start_session(user_id)
    client.set_cookie("sylo_session", token)
    return client, user_id


def page_text(response) -> str:
    return response.get_data(as_text=True)


def cookie_payload(client) -> str:
    """What the browser holds in Flask's signed cookie, decoded as far as anyone can."""
    cookie = client.get_cookie("sylo_flash")
    if cookie is None:
        return ""
    raw = cookie.value.split(".")[1 if cookie.value.startswith(".") else 0]
    data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    return (zlib.decompress(data) if cookie.value.startswith(".") else data).decode(errors="replace")


def test_the_steps_come_in_the_order_they_work(owner):
    client, _ = owner
    text = page_text(client.get("/agents"))
    order = [text.index(marker) for marker in ("Claude and ChatGPT: sign in", "Step 1: Create a token",
                                               "Step 2: Copy your app's config", "<h2>Apps you allowed</h2>",
                                               "the command-signing secret")]
    assert order == sorted(order)
    assert "Create a token in step 1 first" in text
    assert "MCP</abbr>" in text and "Model Context Protocol" in text and "Standard Webhooks</a> format" in text


def test_a_new_token_is_shown_once_and_a_reload_creates_no_other(owner, deployment):
    client, user_id = owner
    page = client.get("/agents")
    created = client.post("/agents/tokens", data={"csrf_token": csrf(page_text(page)), "label": "Cursor"})
    assert created.status_code == 303 and created.headers["Location"].endswith("/agents#step-2")
    [info] = deployment.appdb.tokens(user_id)
    shown = page_text(client.get("/agents"))
    token = re.search(r'<code class="secret" id="new-token">(sylo_[\w-]+)</code>', shown).group(1)
    assert deployment.appdb.user_for_token(token) == user_id and info.label == "Cursor"
    assert shown.count(token) >= 4  # the token, and written into the configs that take one
    again = page_text(client.get("/agents"))
    assert token not in again and "new-token" not in again
    assert len(deployment.appdb.tokens(user_id)) == 1


def test_the_new_token_never_sits_in_the_cookie_in_the_clear(owner):
    client, _ = owner
    client.post("/agents/tokens", data={"csrf_token": csrf(page_text(client.get("/agents"))), "label": "x"})
    held = cookie_payload(client)
    assert "sylo_reveal" in held and "sylo_" not in held.replace("sylo_reveal", "")
    shown = page_text(client.get("/agents"))
    token = re.search(r'id="new-token">(sylo_[\w-]+)<', shown).group(1)
    assert token not in held


@pytest.mark.parametrize("app_config", ["claude-code", "cursor", "vscode", "claude-desktop-token"])
def test_the_configs_with_the_new_token_written_in_connect(owner, app_config):
    client, _ = owner
    client.post("/agents/tokens", data={"csrf_token": csrf(page_text(client.get("/agents"))), "label": "x"})
    shown = page_text(client.get("/agents"))
    block = re.search(rf'<pre id="config-{app_config}" tabindex="0"><code>(.*?)</code></pre>', shown, re.S).group(1)
    config = json.loads(block.replace("&#34;", '"').replace("&quot;", '"').replace("&amp;", "&"))
    if app_config == "claude-desktop-token":
        server = config["mcpServers"]["sylo"]
        headers = {"Authorization": server["env"]["SYLO_AUTH"]}
    else:
        server = config.get("mcpServers", config.get("servers"))["sylo"]
        headers = server["headers"]
    assert client.post("/mcp", json=MCP_INIT, headers=headers).status_code == 200
    if app_config != "claude-desktop-token":
        link = re.search(rf'href="(data:application/json;charset=utf-8,[^"]+)" download="{app_config}-mcp.json"',
                         shown).group(1)
        assert json.loads(unquote(link.split(",", 1)[1]).replace("&amp;", "&")) == config


def test_no_rotate_before_there_is_a_secret(owner, deployment):
    client, user_id = owner
    text = page_text(client.get("/agents"))
    assert "Rotate signing secret" not in text and "Create a signing secret" in text
    made = client.post("/agents/secret/rotate", data={"csrf_token": csrf(text)})
    assert made.status_code == 303
    shown = page_text(client.get("/agents"))
    secret = re.search(r'id="new-secret">(whsec_[\w+/=]+)<', shown).group(1)
    assert secret.startswith("whsec_") and "Rotate signing secret" in shown
    reloaded = page_text(client.get("/agents"))
    assert secret not in reloaded and len(deployment.appdb.signing_secret_infos(user_id)) == 1
