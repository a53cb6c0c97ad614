"""Permissions and approvals (issue 17): a held command reaches n8n only once the owner approves it,
exactly once however the approvals and the outbox workers race; never when declined or expired;
Never refuses at once and hides the tool; the daily cap on external actions answers 429 with
when it resets. n8n is the sandbox's stand-in, which records every request it receives."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from sylo.accounts import Accounts
from sylo.clock import utc_now
from sylo.commands import build_worker
from sylo.commands.outbox import Outbox
from sylo.commands.policy import Policies
from tests.api.test_commands import TASK, Studio, make_studio
from tests.api.test_commands_delivery import running, wait_settled
from tests.api.test_dashboard import csrf, sign_in

EMAIL = {"action": "gmail.send_email", "params": {
    "to": ["ines@harbour-road.example", "site@harbour-road.example"], "subject": "Revised drawings <v2>",
    "body": "Dear Ines,\n\nThe revised drawings are attached. <script>alert(1)</script>\n\nBest, Alice"}}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def studio(request, make_sandbox, tmp_path) -> Studio:
    url = request.getfixturevalue("postgres_database") if request.param == "postgres" else None
    return make_studio(make_sandbox, tmp_path, app_db_url=url)


@pytest.fixture
def sqlite_studio(make_sandbox, tmp_path) -> Studio:
    return make_studio(make_sandbox, tmp_path)


@pytest.fixture
def clock(monkeypatch):
    """Move Sylo's clock (sylo.clock.utc_now, wherever it was imported as now) forward by some hours."""
    installed = {utc_now}

    def forward(hours: float) -> None:
        def later() -> datetime:
            return utc_now() + timedelta(hours=hours)
        for module in [m for name, m in sys.modules.items() if name.startswith(("sylo", "api"))]:
            for attribute in ("now", "utc_now"):
                if getattr(module, attribute, None) in installed:
                    monkeypatch.setattr(module, attribute, later)
        installed.add(later)

    return forward


def owner(studio: Studio, user: str = "alice"):
    """A dashboard client signed in as `user`."""
    client = studio.client.application.test_client()
    sign_in(client, Accounts(studio.appdb.engine), user)
    return client


def decide(client, command_id: str, decision: str):
    page = client.get("/permissions")
    return client.post(f"/permissions/approvals/{command_id}/{decision}", data={"csrf_token": csrf(page)})


def calls_for(studio: Studio, command_id: str) -> int:
    return sum(1 for call in studio.n8n_calls() if call["body"]["id"] == command_id)


def status(studio: Studio, command_id: str, user: str = "alice") -> dict:
    response = studio.client.get(f"/v1/commands/{command_id}", headers={"Authorization": f"Bearer {studio.tokens[user]}"})
    assert response.status_code == 200
    return response.get_json()


def wait_for(predicate, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while not (found := predicate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_an_ask_command_is_held_shown_to_the_owner_and_sent_once_approved(studio):
    answer = studio.send("alice", EMAIL)
    assert answer.status_code == 202
    held = answer.get_json()
    assert held["status"] == "awaiting_approval" and "Waiting for the studio owner's approval" in held["note"]
    worker = build_worker(studio.settings, studio.appdb)
    assert worker.drain_once() == 0 and studio.n8n_calls() == []  # the outbox never claims it
    assert status(studio, held["id"])["approval_expires_at"]

    client = owner(studio)
    assert "1 request from your agents waits for your approval" in client.get("/").get_data(as_text=True)
    page = client.get("/permissions").get_data(as_text=True)
    for shown in ("ines@harbour-road.example, site@harbour-road.example", "Revised drawings &lt;v2&gt;",
                  "The revised drawings are attached. &lt;script&gt;alert(1)&lt;/script&gt;"):
        assert shown in page
    assert "<script>alert" not in page

    approved = decide(client, held["id"], "approve")
    assert approved.status_code == 303 and approved.headers["Location"].endswith("/permissions#approvals")
    assert "Approved" in client.get("/permissions").get_data(as_text=True)
    worker.drain_once()
    assert wait_for(lambda: status(studio, held["id"])["status"] == "delivered")
    assert studio.delivered_ids() == [held["id"]] and calls_for(studio, held["id"]) == 1
    forwarded = studio.n8n_calls()[0]["body"]
    assert forwarded["params"] == {**EMAIL["params"], "cc": []}
    steps = [(e.kind, e.detail) for e in reversed(studio.audit("alice"))]
    assert steps[:2] == [("command.accepted", "waiting for the owner's approval"),
                         ("command.approved", "approved by alice on the dashboard")]
    assert status(studio, held["id"])["decided_at"]
    again = decide(client, held["id"], "approve")  # a reload, or the second tab
    assert again.status_code == 303 and worker.drain_once() == 0 and calls_for(studio, held["id"]) == 1


def test_racing_approvals_and_two_workers_deliver_each_command_exactly_once(studio):
    ids = [studio.send("alice", EMAIL).get_json()["id"] for _ in range(6)]
    clients = [owner(studio), owner(studio)]
    tokens = [csrf(client.get("/permissions")) for client in clients]
    workers = [build_worker(studio.settings, studio.appdb, poll_seconds=0.01) for _ in range(2)]
    with running(workers[0]), running(workers[1]):
        for command_id in ids:
            start = threading.Barrier(2)

            def click(index: int, command_id=command_id, start=start):
                start.wait()
                return clients[index].post(f"/permissions/approvals/{command_id}/approve",
                                           data={"csrf_token": tokens[index]}).status_code

            with ThreadPoolExecutor(2) as pool:
                assert list(pool.map(click, (0, 1))) == [303, 303]
        assert wait_for(lambda: Counter(studio.delivered_ids()) == Counter(ids))
        wait_settled(Outbox(studio.appdb.engine), 10)
    assert Counter(call["body"]["id"] for call in studio.n8n_calls()) == Counter(ids)  # once each, no retry
    approvals = Counter(e.command_id for e in studio.audit("alice") if e.kind == "command.approved")
    assert approvals == Counter(ids)


def test_a_declined_command_never_reaches_n8n(studio):
    held = studio.send("alice", EMAIL).get_json()
    client = owner(studio)
    assert decide(client, held["id"], "decline").status_code == 303
    assert "Declined" in client.get("/permissions").get_data(as_text=True)
    late = decide(client, held["id"], "approve")
    assert late.status_code == 303 and "it was declined" in client.get("/permissions").get_data(as_text=True)
    build_worker(studio.settings, studio.appdb).drain_once()
    answer = status(studio, held["id"])
    assert answer["status"] == "declined" and "declined" in answer["note"]
    assert studio.n8n_calls() == []
    assert [e.kind for e in studio.audit("alice")][0] == "command.declined"


def test_an_unanswered_command_expires_and_can_no_longer_be_approved(sqlite_studio, clock):
    studio = sqlite_studio
    swept, checked = (studio.send("alice", EMAIL).get_json()["id"] for _ in range(2))
    clock(studio.settings.approval_ttl_hours + 0.1)
    worker = build_worker(studio.settings, studio.appdb)
    worker.sweep()  # the outbox worker's loop expires what waited too long
    assert status(studio, swept)["status"] == "expired"
    assert status(studio, checked)["status"] == "expired"
    service = studio.client.application.extensions["sylo"].commands
    assert service.approve(swept, "alice", by="alice").applied is False
    assert worker.drain_once() == 0 and studio.n8n_calls() == []
    expired = [e for e in studio.audit("alice") if e.kind == "command.expired"]
    assert len(expired) == 2 and "no decision within 72 h" in expired[0].detail


def test_an_expired_command_cannot_be_approved_before_any_sweep(sqlite_studio, clock):
    studio = sqlite_studio
    held, read = (studio.send("alice", EMAIL).get_json()["id"] for _ in range(2))
    clock(studio.settings.approval_ttl_hours + 0.1)
    assert status(studio, read)["status"] == "expired"  # reading it settles it
    client = owner(studio)
    assert held not in client.get("/permissions").get_data(as_text=True)
    assert decide(client, held, "approve").status_code == 303
    assert "it expired before anyone decided" in client.get("/permissions").get_data(as_text=True)
    assert Outbox(studio.appdb.engine).get(held).status == "expired"
    build_worker(studio.settings, studio.appdb).drain_once()
    assert studio.n8n_calls() == []


def test_deny_refuses_at_once_and_hides_the_tool(sqlite_studio):
    studio = sqlite_studio
    Policies(studio.appdb.engine).set("alice", "gmail.send_email", "deny", by="cli")
    refused = studio.send("alice", EMAIL)
    assert refused.status_code == 403
    problem = refused.get_json()
    assert problem["type"] == "urn:sylo:problem:action-not-allowed" and problem["action"] == "gmail.send_email"
    assert "gmail.send_email" in problem["detail"]
    assert studio.audit()[0].detail.startswith("action not allowed")

    headers = {"Authorization": f"Bearer {studio.tokens['alice']}"}
    listed = studio.client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=headers)
    names = {tool["name"] for tool in listed.get_json()["result"]["tools"]}
    assert "gmail_send_email" not in names and {"gmail_draft_reply", "asana_comment"} <= names
    bobs = studio.client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                              headers={"Authorization": f"Bearer {studio.tokens['bob']}"})
    assert "gmail_send_email" in {tool["name"] for tool in bobs.get_json()["result"]["tools"]}
    called = studio.client.post("/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                                               "params": {"name": "gmail_send_email",
                                                                          "arguments": EMAIL["params"]}})
    result = called.get_json()["result"]
    assert result["isError"] is True and "does not allow gmail.send_email" in result["content"][0]["text"]
    assert studio.n8n_calls() == [] and Outbox(studio.appdb.engine).counts() == {}
    assert [e.source for e in studio.audit() if e.kind == "command.refused"][:2] == ["mcp", "http"]
    activity = owner(studio).get("/activity").get_data(as_text=True)
    assert "You set this to Never on the Permissions page" in activity
    assert "You changed what your agents may do: send an email is now “Never”" in activity


def test_mcp_tools_tell_the_model_a_command_waits_for_approval(sqlite_studio):
    studio = sqlite_studio
    headers = {"Authorization": f"Bearer {studio.tokens['bob']}"}

    def call(name: str, arguments: dict) -> dict:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
        return studio.client.post("/mcp", headers=headers, json=body).get_json()["result"]

    sent = call("gmail_send_email", EMAIL["params"])
    text = sent["content"][0]["text"]
    assert sent["isError"] is False and sent["structuredContent"]["status"] == "awaiting_approval"
    assert "Waiting for the studio owner's approval" in text and "get_command_status" in text
    command_id = sent["structuredContent"]["id"]
    checked = call("get_command_status", {"command_id": command_id})["structuredContent"]
    assert checked["status"] == "awaiting_approval" and "approval" in checked["note"]
    studio.client.application.extensions["sylo"].commands.decline(command_id, "bob", by="bob")
    declined = call("get_command_status", {"command_id": command_id})["structuredContent"]
    assert declined["status"] == "declined" and "declined" in declined["note"]
    assert studio.n8n_calls() == []


def test_the_daily_cap_answers_429_with_when_it_resets(make_sandbox, tmp_path):
    studio = make_studio(make_sandbox, tmp_path, external_actions_per_day=2)
    Policies(studio.appdb.engine).set("alice", "gmail.send_email", "allow", by="dashboard")
    first = [studio.send("alice", EMAIL) for _ in range(2)]
    assert [r.get_json()["status"] for r in first] == ["delivered", "delivered"]
    capped = studio.send("alice", EMAIL)
    assert capped.status_code == 429
    problem = capped.get_json()
    assert problem["type"] == "urn:sylo:problem:daily-limit-reached" and problem["limit"] == 2
    resets_at = datetime.fromisoformat(problem["resets_at"])
    created = Outbox(studio.appdb.engine).get(first[0].get_json()["id"]).created_at
    assert abs((resets_at - (created + timedelta(days=1))).total_seconds()) < 1
    assert 86_000 < int(capped.headers["Retry-After"]) <= 86_400 and problem["resets_at"] in problem["detail"]
    assert studio.send("alice", TASK).status_code in (200, 202)  # actions inside the studio are not capped
    assert studio.send("bob", {"action": "xero.send_invoice_reminder", "params": {
        "invoice_id": "3f9c1b2a-0d4e-4c5f-8a6b-7c8d9e0f1a2b"}}).status_code == 202  # per user, held for bob
    assert len(studio.delivered_ids()) == 3
    assert "as many things that reach outside the studio" in owner(studio).get("/activity").get_data(as_text=True)


def test_declined_requests_do_not_count_against_the_cap_but_waiting_ones_do(make_sandbox, tmp_path):
    studio = make_studio(make_sandbox, tmp_path, external_actions_per_day=2)
    service = studio.client.application.extensions["sylo"].commands
    held = [studio.send("alice", EMAIL).get_json()["id"] for _ in range(2)]
    assert studio.send("alice", EMAIL).status_code == 429  # two waiting: an agent cannot flood the owner
    service.decline(held[0], "alice", by="alice")
    assert studio.send("alice", EMAIL).get_json()["status"] == "awaiting_approval"


def test_the_cap_holds_under_concurrent_commands(studio):
    service = studio.client.application.extensions["sylo"].commands
    service.cap = type(service.cap)(3, service.cap.actions)
    Policies(studio.appdb.engine).set("alice", "gmail.send_email", "allow", by="cli")
    from sylo.commands.service import Refused

    def submit(index: int) -> str:
        try:
            return service.submit("alice", f"race-{index}", EMAIL, "http").command.status
        except Refused as refused:
            return refused.slug

    with ThreadPoolExecutor(8) as pool:
        outcomes = Counter(pool.map(submit, range(8)))
    assert outcomes["daily-limit-reached"] == 5 and sum(outcomes.values()) == 8
    assert sum(Outbox(studio.appdb.engine).counts().values()) == 3
