"""The approval journey in headless Chromium, against `sylo demo --serve` (issue 17).

An agent asks to send an email; the owner sees on Home that a request waits, opens Permissions,
reads the recipients, subject and body, and approves: the command is delivered to n8n once.
A second email is declined and never delivered. Then the owner sets sending email to Never and
the agent is refused at once. Screenshots land in test-artifacts/screenshots/approvals-*.png.
"""

from __future__ import annotations

import time
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DemoServer, Shots

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"


def email(subject: str) -> dict:
    return {"action": "gmail.send_email", "params": {
        "to": ["ines@harbour-road.example"], "cc": ["site@harbour-road.example"], "subject": subject,
        "body": "Dear Ines,\n\nThe revised drawings are attached. <b>Not bold</b>\n\nBest, Alice"}}


def wait_status(demo: DemoServer, user_id: str, command_id: str, wanted: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    found = demo.command(user_id, command_id)
    while found["status"] != wanted and time.monotonic() < deadline:
        time.sleep(0.3)
        found = demo.command(user_id, command_id)
    return found


def sign_in(page: Page, demo: DemoServer, user_id: str) -> None:
    page.goto(demo.login_link(user_id))
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("The same again").fill(PASSWORD)
    page.get_by_role("button", name="Save password").click()
    expect(page.get_by_role("status")).to_contain_text("Password saved")


def test_the_owner_approves_one_email_declines_another_and_then_forbids_them(demo, context, screenshots):
    shot, page = Shots(screenshots, "approvals"), context.new_page()
    user_id = next(u for u in demo.links if u != "new-studio")
    subject = f"Revised drawings {uuid.uuid4().hex[:4]}"
    asked = demo.send(user_id, email(subject))
    assert asked.status_code == 202 and asked.json()["status"] == "awaiting_approval"
    held = asked.json()["id"]
    sign_in(page, demo, user_id)

    page.goto(demo.url + "/")
    waiting = page.locator(".attention li").filter(has_text="waits for your approval")
    expect(waiting).to_contain_text("1 request from your agents waits for your approval")
    shot(page, "home")
    waiting.get_by_role("link", name="Review and decide").click()
    expect(page.get_by_role("heading", name="Permissions", exact=True)).to_be_visible()
    request = page.locator(f'ol.approvals li[data-command="{held}"]')
    expect(request).to_contain_text(f"Your agent wants to send the email {subject} to ines@harbour-road.example")
    facts = request.locator("dl.params")
    for label, value in (("To", "ines@harbour-road.example"), ("Cc", "site@harbour-road.example"),
                         ("Subject", subject)):
        expect(facts).to_contain_text(f"{label}{value}")
    expect(facts.locator("pre.param")).to_have_text(email(subject)["params"]["body"])  # as text, not markup
    expect(facts.locator("b")).to_have_count(0)
    assert demo.command(user_id, held)["status"] == "awaiting_approval"  # nothing sent while it waits
    shot(page, "waiting")

    request.get_by_role("button", name="Approve and send").click()
    expect(page.get_by_role("status")).to_contain_text("Approved: Sylo is sending it now")
    expect(page.locator(f'ol.approvals li[data-command="{held}"]')).to_have_count(0)
    shot(page, "approved")
    delivered = wait_status(demo, user_id, held, "delivered")
    assert delivered["status"] == "delivered" and delivered["attempts"] == 1 and delivered["decided_at"]

    second = demo.send(user_id, email(subject + " (again)")).json()["id"]
    page.reload()
    page.locator(f'ol.approvals li[data-command="{second}"]').get_by_role("button", name="Decline").click()
    expect(page.get_by_role("status")).to_contain_text("Declined: it will not be done")
    shot(page, "declined")
    assert demo.command(user_id, second)["status"] == "declined"

    page.get_by_role("link", name="Activity").first.click()
    rows = page.locator("ol.rows > li")
    approved_row = rows.filter(has_text=f"send the email {subject} to").filter(has_text="delivered")
    expect(approved_row).to_contain_text("You approved it on")
    expect(rows.filter(has_text=f"{subject} (again)")).to_contain_text("You declined it, so it was not done.")
    shot(page, "activity")
    rows.filter(has_text=f"{subject} (again)").get_by_role("link", name="Details").click()
    expect(page.locator("ol.steps")).to_contain_text(f"declined: declined by {user_id} on the dashboard")

    page.get_by_role("link", name="Permissions").first.click()
    choice = page.locator('fieldset[data-action="gmail.send_email"]')
    choice.get_by_label("Never").check()
    page.get_by_role("button", name="Save permissions").click()
    expect(page.get_by_role("status")).to_contain_text("Saved. Send an email: Never.")
    expect(page.locator('fieldset[data-action="gmail.send_email"]').get_by_label("Never")).to_be_checked()
    shot(page, "never")
    refused = demo.send(user_id, email(subject + " (refused)"))
    assert refused.status_code == 403 and refused.json()["type"] == "urn:sylo:problem:action-not-allowed"
    assert demo.command(user_id, second)["status"] == "declined" and \
        demo.command(user_id, held)["attempts"] == 1  # delivered once, never again
