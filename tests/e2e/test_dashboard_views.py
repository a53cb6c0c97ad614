"""Every dashboard page, error pages included, on a desktop and on a 390 px phone (issue 16).

Each page is screenshotted (test-artifacts/screenshots/views-<page>-<desktop|phone>.png) and
checked for what breaks first on a small screen: nothing wider than the screen, a navigation on
one row, tables that keep their labels; and, on both, text with AA contrast, in the light and the dark colour scheme.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import DESKTOP, PHONE, DemoServer

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"

# Contrast of every visible text against what is behind it (WCAG 2.x relative luminance).
CONTRAST = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
      .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const behind = (el) => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0.5) return c.slice(0, 3); } return [255, 255, 255]; };
  const poor = [];
  for (const el of document.querySelectorAll("main *, header *, nav *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const box = el.getBoundingClientRect();
    if (!own || !box.width || getComputedStyle(el).visibility === "hidden" || el.closest(".visually-hidden, .skip")) continue;
    const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(behind(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) poor.push(`${el.tagName}.${el.className}: ${ratio.toFixed(2)} "${el.textContent.trim().slice(0, 30)}"`);
  }
  return poor;
}"""
OVERFLOW = "document.scrollingElement.scrollWidth - window.innerWidth"
NAV_ROWS = "new Set([...document.querySelectorAll('nav.primary li')].map((li) => Math.round(li.getBoundingClientRect().top))).size"
# A table at 390 px either stacks (each cell shows its column's name) or scrolls sideways with its header row.
UNLABELLED_CELLS = """[...document.querySelectorAll('main table')].flatMap((table) => {
  const header = table.querySelector('thead');
  if (header && getComputedStyle(header).display !== 'none') return [];
  return [...table.querySelectorAll('tbody td')].filter((td) => !td.dataset.label
      || getComputedStyle(td, '::before').content === 'none').map((td) => td.outerHTML.slice(0, 60));
})"""


@pytest.fixture(scope="module")
def studio(demo: DemoServer) -> dict:
    """The synced studio with a password, a delivered request, a refusal; plus pages to visit by name."""
    user_id = next(u for u in demo.links if u != "new-studio")
    answer = demo.send(user_id, {"action": "asana.comment", "params": {"task_gid": "1201", "text": "Drawings sent."}})
    demo.send(user_id, {"action": "xero.send_invoice_reminder", "params": {"invoice_id": "not-an-id"}})
    return {"user_id": user_id, "command": demo.settled(user_id, answer)["id"]}


@pytest.fixture(scope="module", params=["desktop", "phone", "dark"])
def signed_in(request, browser: Browser, demo: DemoServer, studio):
    """A browser on one screen size (and, for "dark", a dark colour scheme), signed in as the synced studio."""
    context = browser.new_context(viewport=PHONE if request.param == "phone" else DESKTOP,
                                  color_scheme="dark" if request.param == "dark" else "light")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(demo.login_link(studio["user_id"]))
    page.get_by_role("button", name="Sign in").click()
    if "/account/password" in page.url:
        page.get_by_label("New password").fill(PASSWORD)
        page.get_by_label("The same again").fill(PASSWORD)
        page.get_by_role("button", name="Save password").click()
    expect(page).to_have_url(f"{demo.url}/")
    yield request.param, page
    context.close()


SIGNED_IN_PAGES = {
    "home": "/", "connections": "/connections", "disconnect": "/connections/xero/disconnect",
    "agents": "/agents", "permissions": "/permissions", "context": "/context", "context-tasks": "/context?kind=tasks", "activity": "/activity",
    "request": "/activity/{command}", "password": "/account/password", "not-found": "/no-such-page",
    "wrong-method": "/logout",
}


WIDE_ELEMENTS = """[...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
  .filter(e => { for (let a = e.parentElement; a && a !== document.body; a = a.parentElement)
                   if (getComputedStyle(a).overflowX !== 'visible') return false;  // scrolls inside its box
                 return true; })
  .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ' ' +
                    Math.round(e.getBoundingClientRect().right - window.innerWidth) + 'px ' +
                    JSON.stringify(e.textContent.slice(0, 40)))"""


def check_layout(page: Page, size: str) -> None:
    overflow = page.evaluate(OVERFLOW)
    assert overflow <= 0, f"wider than the screen by {overflow}px: {page.evaluate(WIDE_ELEMENTS)}"
    assert page.evaluate(CONTRAST) == []
    if page.locator("nav.primary").count():
        assert page.evaluate(NAV_ROWS) == 1, "the navigation wraps"
    if size == "phone":
        assert page.evaluate(UNLABELLED_CELLS) == []
        nav = page.locator("nav.primary")
        if nav.count():
            box = nav.bounding_box()
            assert box["y"] + box["height"] <= PHONE["height"] + 1, "the tab bar sits on the screen's bottom edge"


@pytest.mark.parametrize("name", list(SIGNED_IN_PAGES))
def test_every_signed_in_page_fits_the_screen(signed_in, demo, studio, screenshots, name):
    size, page = signed_in
    response = page.goto(demo.url + SIGNED_IN_PAGES[name].format(**studio))
    expected = {"not-found": 404, "wrong-method": 405}.get(name, 200)
    assert response.status == expected and response.headers["content-type"].startswith("text/html")
    page.screenshot(path=str(screenshots / f"views-{name}-{size}.png"), full_page=size != "phone")
    if size == "phone":  # what the phone shows first, and the whole page (the tab bar then sits mid-page)
        page.screenshot(path=str(screenshots / f"views-{name}-phone-full.png"), full_page=True)
    check_layout(page, size)
    if expected != 200:
        expect(page.get_by_role("link", name="Back to the dashboard")).to_be_visible()
        expect(page.locator("nav.primary")).to_be_visible()  # still signed in, still at home in the dashboard


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("name", ["login", "link", "spent-link", "api-not-found"])
def test_every_signed_out_page_fits_the_screen(browser, demo, screenshots, size, name):
    context = browser.new_context(viewport=size)
    page = context.new_page()
    user_id = f"view-{uuid.uuid4().hex[:6]}"
    demo.cli("users", "create", "--email", f"{user_id}@studio.example", "--id", user_id)
    link = demo.login_link(user_id)
    if name == "spent-link":
        page.goto(link)
        page.get_by_role("button", name="Sign in").click()
        context.clear_cookies()
    target = {"login": f"{demo.url}/login", "link": link, "spent-link": link,
              "api-not-found": f"{demo.url}/v1/no-such-route"}[name]
    response = page.goto(target)
    assert response.status == {"spent-link": 410, "api-not-found": 404}.get(name, 200)
    assert response.headers["content-type"].startswith("text/html")
    tag = "phone" if size == PHONE else "desktop"
    page.screenshot(path=str(screenshots / f"views-{name}-{tag}.png"), full_page=True)
    check_layout(page, tag)
    context.close()


def test_a_broken_document_is_a_500_page_in_the_browser(browser, demo, screenshots):
    user_id = f"broken-{uuid.uuid4().hex[:6]}"
    demo.cli("users", "create", "--email", f"{user_id}@studio.example", "--id", user_id)
    folder = demo.exports / user_id / "context"
    folder.mkdir(parents=True)
    (folder / "all.json").write_text('{"freshness": [')  # cut short, as a full disk might leave it
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(demo.login_link(user_id))
    page.get_by_role("button", name="Sign in").click()
    response = page.goto(f"{demo.url}/connections")
    assert response.status == 500 and response.headers["content-type"].startswith("text/html")
    expect(page.get_by_role("heading", level=1)).to_have_text("Something went wrong on our side")
    expect(page.locator("main")).not_to_contain_text("Traceback")
    page.screenshot(path=str(screenshots / "views-server-error-desktop.png"), full_page=True)
    context.close()
