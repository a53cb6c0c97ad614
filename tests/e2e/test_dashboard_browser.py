"""The dashboard in headless Chromium, against `sylo demo --serve` (issues 7 and 16).

A studio owner with nothing connected signs in with a link, chooses a password for the account
the page names, lands on a home that asks them to connect; cancels a Connect (the card says so),
connects Gmail on the sandbox's Connect page and watches the card become synced; disconnects after
a confirmation, asking for the data to go, and sees the card stop offering to delete it; signs out.
Each form's answer is a redirect: reloading the page that follows repeats nothing.
Screenshots land in test-artifacts/screenshots/.
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
PAGE_BUDGET = 100_000  # bytes: HTML, CSS, JS and icons of one page, as the browser receives them


def card(page: Page, service: str):
    return page.locator(f'li.card[data-service="{service}"]')


def sign_in_with_link(page: Page, link: str, shot: Shots) -> None:
    page.goto(link)
    expect(page.get_by_role("heading", name="Welcome to Sylo")).to_be_visible()
    shot(page, "login-link")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{link.split('/login/')[0]}/account/password")


def choose_password(page: Page, shot: Shots, email: str) -> None:
    expect(page.get_by_role("heading", name="Choose a password")).to_be_visible()
    expect(page.locator("main")).to_contain_text(f"For {email}")
    expect(page.get_by_label("Account")).to_have_value(email)
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("The same again").fill(PASSWORD)
    shot(page, "password")
    page.get_by_role("button", name="Save password").click()
    expect(page.get_by_role("status")).to_contain_text("Password saved")


def reload_repeats_nothing(page: Page, path: str, flash: str) -> None:
    """Post-redirect-get: the page after a form is a GET, so a reload neither re-posts nor re-says the news."""
    response = page.reload()
    assert response.request.method == "GET" and urlsplit(response.url).path == path
    expect(page.get_by_role("status").filter(has_text=flash)).to_have_count(0)


def open_connect_tab(context: BrowserContext, page: Page, service: str) -> Page:
    with context.expect_page() as opened:
        page.get_by_role("button", name=f"Connect {service}").click()
    connect = opened.value
    expect(connect.get_by_role("heading", name="Connect an account")).to_be_visible()
    return connect


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


def test_owner_connects_cancels_disconnects_and_the_pages_say_so(demo, context, screenshots):
    shot, page = Shots(screenshots, "journey"), context.new_page()
    hosts = set()
    context.on("request", lambda request: hosts.add(urlsplit(request.url).hostname))
    sign_in_with_link(page, demo.links["new-studio"], shot)
    choose_password(page, shot, "owner@new-studio.example")
    expect(page).to_have_url(f"{demo.url}/")
    expect(page.locator(".attention")).to_contain_text("Connect your studio's accounts")
    shot(page, "home-newcomer")
    reload_repeats_nothing(page, "/", "Password saved")

    page.get_by_role("link", name="Connect an account").click()
    for service in ("gmail", "asana", "xero"):
        expect(card(page, service)).to_have_attribute("data-state", "not-connected")
    shot(page, "connections-before")

    refused = open_connect_tab(context, page, "Gmail")
    shot(refused, "connect-page")
    refused.get_by_role("button", name="Deny Gmail").click()
    expect(refused.get_by_role("heading", name="Gmail was not connected")).to_be_visible()
    expect(card(page, "gmail")).to_contain_text("Gmail was not connected: the sign-in was cancelled or refused")
    expect(card(page, "gmail")).to_have_attribute("data-state", "not-connected")
    shot(page, "connect-refused")
    refused.close()

    abandoned = open_connect_tab(context, page, "Asana")
    abandoned.close()
    expect(card(page, "asana")).to_contain_text("the sign-in page was closed before it finished", timeout=20_000)

    allowed = open_connect_tab(context, page, "Gmail")
    allowed.get_by_role("button", name="Allow Gmail").click()
    expect(allowed.get_by_role("heading", name="Gmail connected")).to_be_visible()
    shot(allowed, "connect-done")
    allowed.close()
    expect(card(page, "gmail")).to_have_attribute("data-state", "connected", timeout=SYNC_TIMEOUT_MS)
    expect(card(page, "gmail")).to_contain_text("Last successful sync")
    shot(page, "connections-connected")

    page.get_by_role("link", name="Agent setup").first.click()
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

    page.get_by_role("link", name="Context").first.click()
    expect(page.locator(".sources")).to_contain_text("Gmail")
    expect(page.locator("[data-figure=money] .value")).to_have_text("Not known")
    expect(page.locator("[data-figure=money] .note")).to_have_text("Xero: not connected")
    page.locator("[data-figure=money]").click()
    expect(page.locator("details#overdue-invoices")).to_have_attribute("open", "")
    expect(page.locator("details#overdue-invoices")).to_contain_text("Not known")
    shot(page, "context")

    page.get_by_role("link", name="Connections").first.click()
    card(page, "gmail").get_by_role("link", name="Disconnect Gmail").click()
    expect(page.get_by_role("heading", name="Disconnect Gmail?")).to_be_visible()
    shot(page, "disconnect-confirm")
    page.get_by_role("link", name="Keep it connected").click()
    expect(card(page, "gmail")).to_have_attribute("data-state", "connected")
    card(page, "gmail").get_by_role("link", name="Disconnect Gmail").click()
    page.get_by_label("Also delete the data Sylo synced from Gmail").check()
    page.get_by_role("button", name="Disconnect Gmail").click()
    expect(page.get_by_role("status")).to_contain_text("The data Sylo synced from it will be deleted")
    expect(card(page, "gmail")).to_have_attribute("data-state", "disconnected")
    reload_repeats_nothing(page, "/connections", "Gmail disconnected")
    expect(card(page, "gmail")).to_contain_text("keeps nothing from it", timeout=SYNC_TIMEOUT_MS)
    expect(card(page, "gmail").get_by_role("link", name="Delete synced data")).to_have_count(0)
    shot(page, "connections-after")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{demo.url}/login")
    page.goto(f"{demo.url}/connections")
    expect(page).to_have_url(f"{demo.url}/login?next=/connections")
    shot(page, "signed-out")
    assert hosts == {"127.0.0.1"}  # the dashboard and the sandbox: no fonts, scripts or pixels from elsewhere


def test_the_synced_studio_reads_its_summary_and_its_agents_requests_in_words(demo, context, screenshots):
    shot, page = Shots(screenshots, "studio"), context.new_page()
    user_id = next(u for u in demo.links if u != "new-studio")
    project = _first_project(demo, user_id)
    name = f"Send drawings {uuid.uuid4().hex[:4]}"
    answer = demo.send(user_id, {"action": "asana.create_task", "params": {"project_gid": project["id"], "name": name}})
    assert demo.settled(user_id, answer)["status"] == "delivered"
    refused = demo.send(user_id, {"action": "asana.create_task", "params": {"name": "No project"}})
    assert refused.status_code == 422
    page.goto(demo.login_link(user_id))
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("The same again").fill(PASSWORD)
    page.get_by_role("button", name="Save password").click()

    expect(page.locator(".attention")).to_contain_text("overdue")
    shot(page, "home")
    page.locator("[data-figure=tasks]").click()
    expect(page).to_have_url(f"{demo.url}/context?kind=all#overdue-tasks")
    expect(page.locator("details#overdue-tasks")).to_have_attribute("open", "")
    expect(page.locator("details#money")).not_to_have_attribute("open", "")
    shot(page, "context-overdue-tasks")

    page.get_by_role("link", name="Activity").first.click()
    rows = page.locator("ol.rows > li")
    expect(rows.filter(has_text=f"Your agent asked to add the task {name} to the project {project['name']}")
           ).to_contain_text("delivered")
    expect(rows.filter(has_text="Your agent tried to add a task in Asana")).to_contain_text(
        "Some of what it asked for was missing or not valid, so nothing was done.")
    expect(page.locator("main")).not_to_contain_text("cmd_")
    shot(page, "activity")
    rows.filter(has_text=name).get_by_role("link", name="Details").click()
    expect(page.get_by_role("heading", name="Request details")).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text("cmd_")
    shot(page, "activity-detail")


def _first_project(demo: DemoServer, user_id: str) -> dict:
    import json

    return json.loads((demo.exports / user_id / "context" / "projects.json").read_text())["projects"][0]


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
    expect(page).to_have_url(f"{demo.url}/")
    page.close()
    yield context, demo.login_link(user_id)
    context.close()


PAGES = ["/", "/connections", "/agents", "/context", "/activity", "/account/password", "/login", "link"]


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
    """The skip link is the first Tab stop, visibly focused, and lands on <main>; sign-in pages focus their form."""
    page, _ = open_page(newcomer, demo, path)
    if page.locator("[autofocus]").count():
        assert page.evaluate("document.activeElement.matches('main [autofocus]')")
    else:
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.matches('a.skip[href=\"#main\"]')")
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
    unlabelled = page.evaluate(UNLABELLED)
    page.close()
    assert unlabelled == []
