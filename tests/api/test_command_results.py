"""Long-running workflows (issue 13 item 3): n8n answers 202 running, then reports the result with
`POST /v1/commands/<id>/result`, signed with SYLO_N8N_SIGNING_SECRET. Everything else is refused."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook
from werkzeug.serving import make_server

from sylo.commands import build_worker
from sylo.commands.outbox import Outbox
from sylo.commands.policy import Policies
from tests.api.test_commands import N8N_SECRET, TASK, make_studio

VIDEO = {"action": "veo.generate_video", "params": {"prompt": "A slow pan over the Harbour Road model"}}
RUNNING = {"status": 202, "result": {"status": "running"}}


def allowing_videos(make_sandbox, tmp_path, **overrides):
    """A studio whose owner allows videos without asking: these tests are about results, not approvals."""
    studio = make_studio(make_sandbox, tmp_path, **overrides)
    for user in ("alice", "bob"):
        Policies(studio.appdb.engine).set(user, "veo.generate_video", "allow", by="cli")
    return studio


@pytest.fixture
def live(make_sandbox, tmp_path):
    """A studio whose API listens on a real port (n8n calls it back), commands left to the worker."""
    studio = allowing_videos(make_sandbox, tmp_path, command_wait_seconds=0)
    server = make_server("127.0.0.1", 0, studio.client.application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    studio.sandbox.admin.put("/n8n", json={"signing_secret": N8N_SECRET, "callback_url": url})
    yield studio
    server.shutdown()


def status(studio, command_id: str, user: str = "alice") -> dict:
    response = studio.client.get(f"/v1/commands/{command_id}", headers={"Authorization": f"Bearer {studio.tokens[user]}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def start_running(studio, payload=VIDEO, user: str = "alice") -> str:
    """A command whose workflow answered 202 running; its id."""
    command_id = studio.send(user, payload).get_json()["id"]
    assert build_worker(studio.settings, studio.appdb).drain_once() >= 1
    assert status(studio, command_id, user)["status"] == "running"
    return command_id


def report(studio, command_id: str, body: dict | bytes, *, secret: str = N8N_SECRET, message_id: str | None = None,
           at: datetime | None = None, headers: dict | None = None):
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    message_id = message_id or f"res_{uuid.uuid4().hex}"
    at = at or datetime.now(timezone.utc)
    signed = {"webhook-id": message_id, "webhook-timestamp": str(int(at.timestamp())),
              "webhook-signature": Webhook(secret).sign(message_id, at, raw.decode()),
              "Content-Type": "application/json", **(headers or {})}
    return studio.client.post(f"/v1/commands/{command_id}/result", data=raw, headers=signed)


def mcp_status(studio, command_id, user: str = "alice") -> dict:
    response = studio.client.post("/mcp", headers={"Authorization": f"Bearer {studio.tokens[user]}"}, json={
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "get_command_status", "arguments": {"command_id": command_id}}})
    return response.get_json()["result"]


def test_an_async_command_goes_queued_running_succeeded_through_a_signed_result(live):
    live.sandbox.admin.put("/n8n/workflows/sylo-commands", json={**RUNNING, "callback": {
        "status": "succeeded", "result": {"video_url": "https://cdn.example/harbour.mp4"}, "hold": True}})
    sent = live.send("alice", VIDEO)
    assert sent.status_code == 202 and sent.get_json()["status"] == "queued"
    command_id = sent.get_json()["id"]
    assert status(live, command_id)["status"] == "queued"

    assert build_worker(live.settings, live.appdb).drain_once() == 1
    now_running = status(live, command_id)
    assert now_running["status"] == "running" and now_running["result"] == {"status": "running"}
    assert now_running["result_due_by"]
    assert mcp_status(live, command_id)["structuredContent"]["status"] == "running"

    [released] = live.sandbox.admin.post("/n8n/callbacks").json()["released"]
    assert released["status"] == 200
    done = status(live, command_id)
    assert done["status"] == "succeeded" and done["result"] == {"video_url": "https://cdn.example/harbour.mp4"}
    tool = mcp_status(live, command_id)
    assert tool["isError"] is False and tool["structuredContent"]["status"] == "succeeded"
    assert tool["structuredContent"]["result"] == {"video_url": "https://cdn.example/harbour.mp4"}
    kinds = [e.kind for e in live.audit("alice")]
    assert kinds[:3] == ["command.succeeded", "command.running", "command.accepted"]
    assert len(live.n8n_calls()) == 1


def test_a_workflow_can_report_failure(live):
    live.sandbox.admin.put("/n8n/workflows/sylo-commands", json=RUNNING)
    command_id = start_running(live)
    answer = report(live, command_id, {"error": "Veo quota exhausted for today"})
    assert answer.status_code == 200 and answer.get_json()["status"] == "failed"
    assert status(live, command_id)["error"] == "Veo quota exhausted for today"
    tool = mcp_status(live, command_id)
    assert tool["isError"] is False and tool["structuredContent"]["error"] == "Veo quota exhausted for today"


def test_a_result_may_arrive_before_sylo_has_read_n8ns_202(live):
    # The workflow calls back at once, racing Sylo's handling of its 202: the result wins either way.
    live.sandbox.admin.put("/n8n/workflows/sylo-commands", json={**RUNNING, "callback": {"result": {"n": 1}}})
    command_id = live.send("alice", VIDEO).get_json()["id"]
    build_worker(live.settings, live.appdb).drain_once()
    deadline = time.monotonic() + 30
    while status(live, command_id)["status"] != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status(live, command_id)["status"] == "succeeded"


def forged(live, command_id, other_id):
    """Each forged or misdirected result: (request, expected status, problem slug)."""
    good = {"id": command_id, "status": "succeeded", "result": {"ok": True}}
    return {
        "unsigned": (lambda: live.client.post(f"/v1/commands/{command_id}/result", json=good), 401, "invalid-signature"),
        "an agent's secret": (lambda: report(live, command_id, good, secret=live.secrets["alice"]), 401,
                              "invalid-signature"),
        "another secret": (lambda: report(live, command_id, good, secret="whsec_" + "Q" * 40), 401, "invalid-signature"),
        "stale": (lambda: report(live, command_id, good, at=datetime.now(timezone.utc) - timedelta(minutes=6)), 401,
                  "stale-timestamp"),
        "tampered body": (lambda: tampered(live, command_id, good), 401, "invalid-signature"),
        "unknown command": (lambda: report(live, "cmd_" + "0" * 24, {**good, "id": "cmd_" + "0" * 24}), 404,
                            "unknown-command"),
        "another command's result": (lambda: report(live, command_id, {**good, "id": other_id}), 409,
                                     "command-mismatch"),
        "another user's command": (lambda: report(live, command_id, {**good, "user_id": "bob"}), 409,
                                   "command-mismatch"),
        "not a result": (lambda: report(live, command_id, {"status": "done"}), 422, "invalid-result"),
        "not json": (lambda: report(live, command_id, b"{nope"), 422, "invalid-result"),
        "too large": (lambda: report(live, command_id, {**good, "result": {"x": "y" * 300_000}}), 413, "too-large"),
    }


CASES = ["unsigned", "an agent's secret", "another secret", "stale", "tampered body", "unknown command",
         "another command's result", "another user's command", "not a result", "not json", "too large"]


@pytest.mark.parametrize("case", CASES)
def test_every_forged_or_misdirected_result_is_refused_audited_and_changes_nothing(live, case):
    live.sandbox.admin.put("/n8n/workflows/sylo-commands", json=RUNNING)
    command_id, other_id = start_running(live), start_running(live)
    send, expected, slug = forged(live, command_id, other_id)[case]
    answer = send()
    assert answer.status_code == expected, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    assert answer.get_json()["type"] == f"urn:sylo:problem:{slug}"
    assert status(live, command_id)["status"] == "running"
    refusal = Outbox(live.appdb.engine).refusals()[0]
    assert refusal.kind == "command.result_refused" and refusal.detail
    signed = expected not in (401, 413)
    assert refusal.user_id == ("alice" if signed and case != "unknown command" else None)  # never a claimed user


def tampered(live, command_id, good):
    raw = json.dumps(good).encode()
    at, message_id = datetime.now(timezone.utc), f"res_{uuid.uuid4().hex}"
    headers = {"webhook-id": message_id, "webhook-timestamp": str(int(at.timestamp())),
               "webhook-signature": Webhook(N8N_SECRET).sign(message_id, at, raw.decode()),
               "Content-Type": "application/json"}
    return live.client.post(f"/v1/commands/{command_id}/result", data=raw.replace(b"true", b"false"), headers=headers)


def test_a_replayed_result_is_refused_even_for_another_command(live):
    live.sandbox.admin.put("/n8n/workflows/sylo-commands", json=RUNNING)
    first, second = start_running(live), start_running(live)
    at, body = datetime.now(timezone.utc), {"status": "succeeded", "result": {"ok": 1}}
    assert report(live, first, body, message_id="res_once", at=at).status_code == 200
    again = report(live, first, body, message_id="res_once", at=at)
    assert (again.status_code, again.get_json()["type"]) == (409, "urn:sylo:problem:result-replayed")
    elsewhere = report(live, second, body, message_id="res_once", at=at)  # same signed bytes, another URL
    assert (elsewhere.status_code, elsewhere.get_json()["type"]) == (409, "urn:sylo:problem:result-replayed")
    assert status(live, second)["status"] == "running"
    kinds = [(e.kind, e.outcome) for e in live.audit("alice")][:2]
    assert kinds == [("command.result_refused", "refused")] * 2


@pytest.mark.parametrize("finish", ["delivered", "succeeded", "failed"])
def test_results_for_finished_commands_are_refused(live, finish):
    if finish == "delivered":
        command_id = live.send("alice", TASK).get_json()["id"]
        build_worker(live.settings, live.appdb).drain_once()
    else:
        live.sandbox.admin.put("/n8n/workflows/sylo-commands", json=RUNNING)
        command_id = start_running(live)
        assert report(live, command_id, {"status": finish, "error": "x"} if finish == "failed"
                      else {"status": finish}).status_code == 200
    late = report(live, command_id, {"status": "succeeded", "result": {"late": True}})
    assert (late.status_code, late.get_json()["type"]) == (409, "urn:sylo:problem:command-finished")
    assert status(live, command_id)["status"] == finish


def test_results_are_refused_when_no_n8n_secret_is_set(make_sandbox, tmp_path):
    studio = allowing_videos(make_sandbox, tmp_path, n8n_signing_secret=None)
    answer = report(studio, "cmd_" + "0" * 24, {"status": "succeeded"})
    assert (answer.status_code, answer.get_json()["type"]) == (503, "urn:sylo:problem:results-disabled")


def test_a_command_running_past_the_result_timeout_fails_with_that_reason(make_sandbox, tmp_path):
    studio = allowing_videos(make_sandbox, tmp_path, command_wait_seconds=0, command_result_timeout_minutes=0.01)
    studio.sandbox.admin.put("/n8n/workflows/sylo-commands", json=RUNNING)
    command_id = start_running(studio)
    outbox = Outbox(studio.appdb.engine)
    from tests.api.test_commands_delivery import running

    with running(build_worker(studio.settings, studio.appdb, poll_seconds=0.05, sweep_seconds=0.1)):
        deadline = time.monotonic() + 30
        while outbox.get(command_id).status == "running" and time.monotonic() < deadline:
            time.sleep(0.05)
    failed = status(studio, command_id)
    assert failed["status"] == "failed"
    assert failed["error"] == "no result from n8n within 0.6 s of its 202 running (SYLO_COMMAND_RESULT_TIMEOUT_MINUTES)"
    assert [e.kind for e in studio.audit("alice")][0] == "command.failed"


def test_reading_a_command_past_its_result_timeout_shows_it_failed(make_sandbox, tmp_path):
    studio = allowing_videos(make_sandbox, tmp_path, command_wait_seconds=0, command_result_timeout_minutes=0.005)
    studio.sandbox.admin.put("/n8n/workflows/sylo-commands", json=RUNNING)
    command_id = start_running(studio)
    deadline = time.monotonic() + 30
    while status(studio, command_id)["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)  # no worker runs: reading it is enough
    assert status(studio, command_id)["status"] == "failed"


def test_get_command_status_reads_only_the_callers_commands(live):
    command_id = live.send("alice", TASK).get_json()["id"]
    mine = mcp_status(live, command_id)
    assert mine["isError"] is False and mine["structuredContent"]["status"] == "queued"
    theirs = mcp_status(live, command_id, user="bob")
    assert theirs["isError"] is True and "no command" in theirs["content"][0]["text"]
    bad = mcp_status(live, "not-an-id")
    assert bad["isError"] is True


def test_get_command_status_is_listed_with_every_parameter_described(live):
    response = live.client.post("/mcp", headers={"Authorization": f"Bearer {live.tokens['alice']}"},
                                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    tools = {t["name"]: t for t in response.get_json()["result"]["tools"]}
    tool = tools["get_command_status"]
    assert tool["annotations"]["readOnlyHint"] is True and tool["description"]
    assert all(p.get("description") for p in tool["inputSchema"]["properties"].values())
    assert tool["inputSchema"]["required"] == ["command_id"]
