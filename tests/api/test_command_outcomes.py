"""What n8n's answers mean for a command (issue 13 items 1, 2 and 4), against the sandbox's n8n stand-in,
which answers as n8n does while it starts and when its credential is missing."""

from __future__ import annotations

import base64
import json
import re
import time
from collections import Counter

import pytest
from standardwebhooks import Webhook

from sylo.accounts import Accounts
from sylo.commands import build_worker, delivery
from sylo.commands.outbox import Outbox
from tests.api.test_commands import N8N_AUTH, N8N_SECRET, TASK, make_studio, studio  # noqa: F401 (a fixture)
from tests.api.test_commands_delivery import running, successes, wait_settled
from tests.api.test_dashboard import sign_in


@pytest.fixture
def quick_backoff(monkeypatch):
    """The real schedule (0.5 s doubling) at a tenth of the time."""
    real_backoff = delivery.backoff
    monkeypatch.setattr(delivery, "backoff", lambda *args, **kwargs: real_backoff(*args, **kwargs) / 10)


@pytest.fixture
def queued(make_sandbox, tmp_path):
    """A studio whose commands wait for the worker (no inline delivery)."""
    return make_studio(make_sandbox, tmp_path, command_wait_seconds=0)


def test_a_command_sent_while_n8n_starts_is_delivered_exactly_once(queued, quick_backoff):
    plan = {"starting_up": {"calls": 1}, "html_404": {"calls": 2}, "not_registered": {"calls": 3}}
    queued.sandbox.admin.post("/n8n/restart", json=plan)
    [command_id] = [queued.send("alice", TASK).get_json()["id"]]
    outbox = Outbox(queued.appdb.engine)
    with running(build_worker(queued.settings, queued.appdb, poll_seconds=0.05)):
        assert wait_settled(outbox, 60) == {"delivered": 1}
    calls = queued.n8n_calls()
    assert [c["status"] for c in calls] == [200, 404, 404, 404, 404, 404, 200]
    assert [c["stage"] for c in calls] == ["starting_up", "html_404", "html_404"] + ["not_registered"] * 3 + [None]
    assert successes([c for c in calls if c["stage"] is None]) == Counter([command_id])  # the workflow ran once
    command = outbox.get(command_id)
    assert command.attempts == 7 and command.result["ok"] is True  # not n8n's "starting up" page
    retries = [e.detail for e in queued.audit("alice") if e.kind == "command.retry"]
    assert len(retries) == 6 and all(len(detail) < 300 and "<" not in detail for detail in retries)


@pytest.mark.parametrize("restart, reason", [
    ({"html_404": {"calls": 1}, "not_registered": {"calls": 0}}, "n8n answered 404: Cannot POST /webhook/sylo-commands"),
    ({"html_404": {"calls": 0}, "not_registered": {"calls": 1}},
     'n8n answered 404: The requested webhook "POST sylo-commands" is not registered.'),
    ({"starting_up": {"calls": 1}, "html_404": {"calls": 0}, "not_registered": {"calls": 0}},
     "n8n answered 200: n8n is starting up. Please wait"),
])
def test_start_up_answers_are_retried_and_kept_as_a_short_reason(studio, restart, reason):
    studio.sandbox.admin.post("/n8n/restart", json=restart)
    response = studio.send("alice", TASK)
    assert response.status_code == 202, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["status"], body["last_error"]) == ("queued", reason)
    assert "next_attempt_at" in body


@pytest.mark.parametrize("status", [400, 409, 410, 422])
def test_a_workflow_that_rejects_the_request_fails_it_at_once(studio, status):
    studio.sandbox.admin.put("/n8n/workflows/sylo-commands",
                             json={"status": status, "result": {"ok": False, "error": "no branch handles it"}})
    response = studio.send("alice", TASK)
    assert response.status_code == 502
    problem = response.get_json()
    assert problem["command"]["status"] == "failed"
    assert problem["detail"] == f"n8n refused it ({status}): no branch handles it"
    assert build_worker(studio.settings, studio.appdb).drain_once() == 0
    assert len(studio.n8n_calls()) == 1


@pytest.mark.parametrize("setup, reason", [
    ({"delete": True}, 'The requested webhook "POST sylo-commands" is not registered.'),
    ({"credential": "missing"}, "No authentication data defined on node!"),
    ({"auth": "wrong"}, "Authorization data is wrong!"),
])
def test_setup_problems_are_retried_for_the_setup_window_then_fail_with_n8ns_reason(make_sandbox, tmp_path,
                                                                                    quick_backoff, setup, reason):
    studio = make_studio(make_sandbox, tmp_path, command_wait_seconds=0, n8n_setup_retry_minutes=0.02,
                         **({"n8n_auth_value": "not-what-n8n-expects"} if setup.get("auth") else {}))
    if setup.get("delete"):
        studio.sandbox.admin.delete("/n8n/workflows/sylo-commands")
    if setup.get("credential"):
        studio.sandbox.admin.put("/n8n/workflows/sylo-commands", json={"credential": "missing"})
    command_id = studio.send("alice", TASK).get_json()["id"]
    outbox = Outbox(studio.appdb.engine)
    with running(build_worker(studio.settings, studio.appdb, poll_seconds=0.05)):
        settled = wait_settled(outbox, 60)
    assert settled == {"failed": 1}, [(e.kind, e.detail) for e in studio.audit("alice")]
    command = outbox.get(command_id)
    assert command.attempts >= 2, "retried, not failed on the first answer"
    assert command.last_error.startswith("gave up after") and command.last_error.endswith(reason)
    assert len(command.last_error) < 300


def test_a_missing_credential_shows_on_healthz_activity_and_metrics(studio):
    assert studio.client.get("/healthz").get_json()["checks"]["n8n"]["status"] == "ok"
    studio.sandbox.admin.put("/n8n/workflows/sylo-commands", json={"credential": "missing"})
    for _ in range(3):
        assert studio.send("alice", TASK).status_code == 202

    health = studio.client.get("/healthz")
    assert health.status_code == 200, "documents and MCP reads still work: degraded, not down"
    body = health.get_json()
    check = body["checks"]["n8n"]
    assert (body["status"], check["status"], check["failures"]) == ("degraded", "failing", 3)
    since = check["since"][11:16]
    assert check["error"].startswith(f"n8n has no credential attached to the Sylo webhook since {since} UTC")

    client = studio.client.application.test_client()
    sign_in(client, Accounts(studio.appdb.engine), "bob")  # every user's commands go to the one n8n
    page = client.get("/activity").get_data(as_text=True)
    assert f"n8n has no credential attached to the Sylo webhook since {since} UTC" in page
    assert "attach the Header Auth credential" in page

    metrics = studio.client.get("/metrics").get_data(as_text=True)
    assert re.search(r'sylo_command_deliveries_total\{cause="no_credential",outcome="retry"\} 3\.0', metrics)

    studio.sandbox.admin.put("/n8n/workflows/sylo-commands", json={})
    studio.send("alice", TASK)
    check = studio.client.get("/healthz").get_json()["checks"]["n8n"]
    assert check["status"] == "ok" and check["last_delivered_at"]
    assert "n8n has no credential" not in client.get("/activity").get_data(as_text=True)
    assert re.search(r'sylo_command_deliveries_total\{cause="ok",outcome="delivered"\} 1\.0',
                     studio.client.get("/metrics").get_data(as_text=True))


def test_a_rejected_credential_is_named_in_plain_words(make_sandbox, tmp_path):
    studio = make_studio(make_sandbox, tmp_path, n8n_auth_value="rotated-on-one-side-only")
    for _ in range(3):
        studio.send("alice", TASK)
    error = studio.client.get("/healthz").get_json()["checks"]["n8n"]["error"]
    assert error.startswith("n8n rejects Sylo's credential since ")
    assert "check the Header Auth credential" in error


def test_unreachable_n8n_is_named_in_plain_words(make_sandbox, tmp_path):
    studio = make_studio(make_sandbox, tmp_path, n8n_url="http://127.0.0.1:9")  # nothing listens on port 9
    for _ in range(3):
        studio.send("alice", TASK)
    error = studio.client.get("/healthz").get_json()["checks"]["n8n"]["error"]
    assert error.startswith("n8n cannot be reached at http://127.0.0.1:9 since ")


def test_a_non_ascii_command_is_utf8_and_its_signature_verifies_on_the_bytes_n8n_received(studio):
    params = {"project_gid": "1201", "name": "Zoë’s brief — 東京 ✓", "notes": "naïve café\nline 2 \u2028 end"}
    studio.sandbox.admin.put("/n8n", json={"signing_secret": N8N_SECRET})
    studio.sandbox.admin.put("/n8n/workflows/sylo-commands", json={"verify_signature": True})
    response = studio.send("alice", {"action": "asana.create_task", "params": params})
    assert response.status_code == 200, response.get_data(as_text=True)  # the stand-in verified the raw bytes
    [call] = studio.n8n_calls()
    raw = base64.b64decode(call["raw_base64"])
    assert "Zoë’s brief — 東京 ✓".encode() in raw and b"\\u" not in raw  # UTF-8, no ASCII escapes
    headers = {k.lower(): v for k, v in call["headers"].items()}
    Webhook(N8N_SECRET).verify(raw, headers)
    # A Code node that re-serialises the parsed body (JSON.stringify) gets the same bytes back.
    assert json.dumps(json.loads(raw), ensure_ascii=False, separators=(",", ":")).encode() == raw
    assert call["headers"]["X-Sylo-Auth"] == N8N_AUTH


def test_every_delivery_outcome_is_counted_for_prometheus(studio):
    studio.sandbox.admin.put("/n8n/workflows/sylo-commands", json={"fail_next": 1})
    studio.send("alice", TASK)
    metrics = studio.client.get("/metrics").get_data(as_text=True)
    assert re.search(r'sylo_command_deliveries_total\{cause="server_error",outcome="retry"\} 1\.0', metrics)
    assert "# TYPE sylo_command_deliveries_total counter" in metrics
