"""The dashboard in headless Chromium, against `sylo demo --serve` (issue 7).

A studio owner signs in with a link, connects Gmail on the sandbox's Connect page, watches the
card become synced, copies an MCP config, rotates a token and the signing secret, disconnects
and signs out. Screenshots land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import DemoServer, Shots

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
SYNC_TIMEOUT_MS = 60_000
PAGE_BUDGET = 100_000  # bytes: HTML, CSS and JS of one page, as the browser receives them


def card(page: Page, service: str):
    return page.locator(f'li.card[data-service="{service}"]')


def sign_in_with_link(page: Page, link: str, shot: Shots) -> None:
    page.goto(link)
    expect(page.get_by_role("heading", name="Welcome to Sylo")).to_be_visible()
    shot(page, "login-link")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{link.split('/login/')[0]}/account/password")


def choose_password(page: Page, shot: Shots) -> None:
    expect(page.get_by_role("heading", name="Choose a password")).to_be_visible()
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("The same again").fill(PASSWORD)
    shot(page, "password")
    page.get_by_role("button", name="Save password").click()
    expect(page.get_by_role("status")).to_contain_text("Password saved")


def connect_gmail(context: BrowserContext, page: Page, shot: Shots) -> None:
    """Connect opens Nango's page in a new tab; allow Gmail there, then close it as a person would."""
    with context.expect_page() as opened:
        page.get_by_role("button", name="Connect Gmail").click()
    connect = opened.value
    expect(connect.get_by_role("heading", name="Connect an account")).to_be_visible()
    shot(connect, "connect-page")
    connect.get_by_role("button", name="Allow Gmail").click()
    expect(connect.get_by_role("heading", name="Gmail connected")).to_be_visible()
    shot(connect, "connect-done")
    connect.close()


def copy_claude_code_config(page: Page) -> dict:
    page.get_by_role("button", name="Copy Claude Code config").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    return json.loads(page.evaluate("navigator.clipboard.readText()"))


def create_token(page: Page, label: str) -> str:
    page.locator("#label").fill(label)
    page.get_by_role("button", name="Create token").click()
    return page.locator("#new-token").inner_text()


def revoke_token(page: Page, label: str) -> None:
    row = page.locator("tr[data-token-id]").filter(has_text=label)
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("Token revoked")
    expect(row).to_contain_text("Revoked")


def context_status(demo: DemoServer, token: str) -> int:
    return httpx.get(f"{demo.url}/v1/context", headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


def disconnect_gmail(page: Page) -> None:
    gmail = card(page, "gmail")
    gmail.get_by_label("Also delete the data Sylo synced from Gmail").check()
    gmail.get_by_role("button", name="Disconnect Gmail").click()
    expect(page.get_by_role("status")).to_contain_text("The data Sylo synced from it will be deleted")


def test_owner_connects_copies_a_config_rotates_credentials_and_disconnects(demo, context, screenshots):
    shot, page = Shots(screenshots, "journey"), context.new_page()
    hosts = set()
    context.on("request", lambda request: hosts.add(urlsplit(request.url).hostname))
    sign_in_with_link(page, demo.links["new-studio"], shot)
    choose_password(page, shot)

    expect(page).to_have_url(f"{demo.url}/connections")
    for service in ("gmail", "asana", "xero"):
        expect(card(page, service)).to_have_attribute("data-state", "not-connected")
    shot(page, "connections-before")

    connect_gmail(context, page, shot)
    expect(card(page, "gmail")).to_have_attribute("data-state", "connected", timeout=SYNC_TIMEOUT_MS)
    expect(card(page, "gmail")).to_contain_text("Last successful sync")
    shot(page, "connections-connected")

    page.get_by_role("link", name="Agent setup").click()
    config = copy_claude_code_config(page)
    assert config["mcpServers"]["sylo"]["url"] == f"{demo.url}/mcp"
    shot(page, "agents")

    label = f"e2e {uuid.uuid4().hex[:6]}"
    token = create_token(page, label)
    assert token.startswith("sylo_")
    shot(page, "agents-new-token")
    assert context_status(demo, token) == 200
    revoke_token(page, label)
    assert context_status(demo, token) == 401

    expect(page.get_by_role("button", name="Rotate signing secret")).to_have_count(0)  # nothing to rotate yet
    page.get_by_role("button", name="Create a signing secret").click()
    assert page.locator("#new-secret").inner_text().startswith("whsec_")
    page.reload()  # post-redirect-get: shown once, and a reload creates nothing
    expect(page.locator("#new-secret")).to_have_count(0)
    expect(page.get_by_role("button", name="Rotate signing secret")).to_be_visible()
    shot(page, "agents-new-secret")

    page.get_by_role("link", name="Context").click()
    expect(page.locator("main")).to_contain_text("Gmail")
    shot(page, "context")
    page.get_by_role("link", name="Activity").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Activity")
    shot(page, "activity")

    page.get_by_role("link", name="Connections").click()
    disconnect_gmail(page)
    expect(card(page, "gmail")).to_have_attribute("data-state", "disconnected")
    shot(page, "connections-after")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{demo.url}/login")
    page.goto(f"{demo.url}/connections")
    expect(page).to_have_url(f"{demo.url}/login?next=/connections")
    shot(page, "signed-out")
    assert hosts == {"127.0.0.1"}  # the dashboard and the sandbox: no fonts, scripts or pixels from elsewhere


# -- every page of a new account: light, and usable from the keyboard --------------------------


@pytest.fixture(scope="module")
def newcomer(browser, demo) -> tuple[BrowserContext, str]:
    """A studio with nothing connected, signed in; plus an unspent sign-in link of theirs."""
    user_id = f"light-{uuid.uuid4().hex[:6]}"
    demo.cli("users", "create", "--email", f"{user_id}@studio.example", "--id", user_id)
    context = browser.new_context()
    page = context.new_page()
    page.goto(demo.login_link(user_id))
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("The same again").fill(PASSWORD)
    page.get_by_role("button", name="Save password").click()
    expect(page).to_have_url(f"{demo.url}/connections")
    page.close()
    yield context, demo.login_link(user_id)
    context.close()


PAGES = ["/connections", "/agents", "/context", "/activity", "/account/password", "/login", "link"]


def open_page(newcomer, demo: DemoServer, path: str) -> tuple[Page, list]:
    """Load a page with the HTTP cache off (routing disables it), keeping every response."""
    context, link = newcomer
    page = context.new_page()
    page.route("**/*", lambda route: route.continue_())
    responses = []
    page.on("response", lambda response: responses.append(response))
    page.goto(link if path == "link" else demo.url + path, wait_until="load")
    return page, responses


@pytest.mark.parametrize("path", PAGES)
def test_a_page_of_a_new_account_weighs_under_100_kb_with_its_css_and_js(newcomer, demo, path):
    page, responses = open_page(newcomer, demo, path)
    received = {r.url: len(r.body()) for r in responses if r.status < 300}
    kinds = {r.request.resource_type for r in responses if r.status < 300}
    page.close()
    assert {"document", "stylesheet", "script"} <= kinds
    assert sum(received.values()) < PAGE_BUDGET, received


UNLABELLED = """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(el => el.labels.length === 0 && !el.getAttribute('aria-labelledby')).map(el => el.outerHTML)"""


@pytest.mark.parametrize("path", PAGES)
def test_a_page_starts_with_the_skip_link_and_labels_every_input(newcomer, demo, path):
    """The skip link is the first Tab stop and lands on <main>; sign-in pages focus their form instead."""
    page, _ = open_page(newcomer, demo, path)
    if page.locator("[autofocus]").count():
        assert page.evaluate("document.activeElement.matches('main [autofocus]')")
    else:
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.matches('a.skip[href=\"#main\"]')")
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
    unlabelled = page.evaluate(UNLABELLED)
    page.close()
    assert unlabelled == []
