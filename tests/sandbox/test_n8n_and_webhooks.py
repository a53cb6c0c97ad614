"""The n8n stand-in (`../shared/reference/protocols.md` §2) and Nango's auth webhooks (`nango.md` §5)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from standardwebhooks import Webhook

WEBHOOK_KEY = str(uuid.uuid4())
NOT_AUTHORISED = "Authorization data is wrong!"


# -- a tiny webhook receiver ----------------------------------------------------------------------

class Receiver:
    """An HTTP server that records every POST and answers with queued statuses (then 200)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/nango-webhooks"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers.items()), "raw": raw})
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        return Handler

    def bodies_for(self, connection_id: str) -> list[dict]:
        return [r for r in self.requests if json.loads(r["raw"]).get("connectionId") == connection_id]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def hooked(make_sandbox, receiver):
    return make_sandbox(users=1, webhook_url=receiver.url, webhook_key=WEBHOOK_KEY)


def connect(running, integration: str, tags: dict) -> str:
    """Create a session, complete it as the Connect page would, return the new connection id."""
    token = running.nango.post("/connect/sessions", json={"tags": tags}).json()["data"]["token"]
    done = running.nango.post("/connect/complete", data={"session_token": token, "integration": integration},
                              headers={"Accept": "application/json"})
    assert done.status_code == 200, done.text
    listed = running.nango.get("/connections", params={f"tags[{k}]": v for k, v in tags.items()}).json()
    return next(c["connection_id"] for c in listed["connections"] if c["provider_config_key"] == integration)


def flush(running) -> None:
    running.admin.get("/webhooks", params={"flush": "true"})


def assert_signed(request: dict) -> dict:
    """The body is stable JSON and both signature headers verify against the signing key (nango.md §5)."""
    raw = request["raw"]
    body = json.loads(raw)
    assert raw == json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {k.lower(): v for k, v in request["headers"].items()}
    expected = hmac.new(WEBHOOK_KEY.encode(), raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-nango-hmac-sha256"], expected)
    assert headers["x-nango-signature"] == hashlib.sha256(WEBHOOK_KEY.encode() + raw).hexdigest()
    assert headers["content-type"].startswith("application/json")
    return body


# -- auth webhooks --------------------------------------------------------------------------------

def test_creation_webhook_is_signed_stable_json(hooked, receiver):
    tags = {"end_user_id": "u_hook", "organization_id": "org_7", "end_user_display_name": "Zoë Ngā"}
    connection_id = connect(hooked, "asana", tags)
    flush(hooked)
    [request] = receiver.bodies_for(connection_id)
    assert request["path"] == "/nango-webhooks"
    body = assert_signed(request)
    assert "Zoë Ngā".encode() in request["raw"], "non-ASCII is not escaped"
    assert {k: body[k] for k in ("from", "type", "operation", "success", "providerConfigKey", "provider", "authMode")} == {
        "from": "nango", "type": "auth", "operation": "creation", "success": True,
        "providerConfigKey": "asana", "provider": "asana", "authMode": "OAUTH2"}
    assert body["tags"] == tags
    assert isinstance(body["environment"], str) and body["environment"]
    assert request["headers"].get("User-Agent", "").startswith("nango/")


def test_webhook_url_override_receives_that_connections_webhooks_only(hooked, receiver):
    own = Receiver()
    own.thread.start()
    try:
        token = hooked.nango.post("/connect/sessions", json={"tags": {"end_user_id": "u_own_hook"},
                                                             "webhook_url_override": own.url}).json()["data"]["token"]
        hooked.nango.post("/connect/complete", data={"session_token": token, "integration": "asana"},
                          headers={"Accept": "application/json"})
        flush(hooked)
        [request] = own.requests
        body = assert_signed(request)
        assert body["operation"] == "creation" and body["tags"] == {"end_user_id": "u_own_hook"}
        assert not receiver.bodies_for(body["connectionId"]), "the environment's URL is bypassed"
        full = hooked.nango.get(f"/connections/{body['connectionId']}", params={"provider_config_key": "asana"})
        assert full.json()["webhook_url_override"] == own.url
    finally:
        own.server.shutdown()
        own.server.server_close()


def test_deletion_sends_another_signed_webhook(hooked, receiver):
    connection_id = connect(hooked, "google-mail", {"end_user_id": "u_bye"})
    flush(hooked)
    deleted = hooked.nango.delete(f"/connections/{connection_id}", params={"provider_config_key": "google-mail"})
    assert deleted.json() == {"success": True}
    flush(hooked)
    requests = receiver.bodies_for(connection_id)
    assert len(requests) == 2
    body = assert_signed(requests[1])
    assert body["type"] == "auth" and body["providerConfigKey"] == "google-mail"
    assert body["operation"] != "creation"  # the deletion operation's name is UNVERIFIED (nango.md §5)


def test_reconnection_sends_an_override_webhook(hooked, receiver):
    connection_id = connect(hooked, "xero", {"end_user_id": "u_again"})
    session = hooked.nango.post("/connect/sessions/reconnect", json={
        "connection_id": connection_id, "integration_id": "xero", "tags": {"end_user_id": "u_again"}})
    assert session.status_code == 201
    token = session.json()["data"]["token"]
    done = hooked.nango.post("/connect/complete", data={"session_token": token, "integration": "xero"},
                             headers={"Accept": "application/json"})
    assert done.status_code == 200
    flush(hooked)
    bodies = [assert_signed(r) for r in receiver.bodies_for(connection_id)]
    assert [(b["operation"], b["success"]) for b in bodies] == [("creation", True), ("override", True)]
    listed = hooked.nango.get("/connections", params={"tags[end_user_id]": "u_again"}).json()["connections"]
    assert [c["connection_id"] for c in listed] == [connection_id], "re-authorised, not a second connection"


def test_broken_credentials_send_a_failed_refresh_webhook(hooked, receiver):
    connection_id = hooked.connection(hooked.user_ids()[0], "xero")
    assert hooked.admin.post(f"/connections/{connection_id}/break").status_code == 200
    flush(hooked)
    [request] = receiver.bodies_for(connection_id)
    body = assert_signed(request)
    assert (body["operation"], body["success"]) == ("refresh", False)
    assert body["error"]["type"] and body["error"]["description"]


def test_a_5xx_answer_is_retried_to_three_attempts(hooked, receiver):
    receiver.statuses = [500, 500, 500, 500]
    connection_id = connect(hooked, "asana", {"end_user_id": "u_retry"})
    flush(hooked)
    attempts = receiver.bodies_for(connection_id)
    assert len(attempts) == 3
    assert len({a["raw"] for a in attempts}) == 1, "every attempt carries the same signed body"


def test_a_retry_after_a_5xx_can_succeed(hooked, receiver):
    receiver.statuses = [503]
    connection_id = connect(hooked, "asana", {"end_user_id": "u_second"})
    flush(hooked)
    assert len(receiver.bodies_for(connection_id)) == 2


def test_a_4xx_answer_is_not_retried(hooked, receiver):
    receiver.statuses = [400]
    connection_id = connect(hooked, "asana", {"end_user_id": "u_4xx"})
    flush(hooked)
    assert len(receiver.bodies_for(connection_id)) == 1


# -- n8n webhooks (protocols.md §2) --------------------------------------------------------------

@pytest.fixture(scope="module")
def n8n(module_sandbox):
    return module_sandbox(users=0)


@pytest.fixture
def guarded(make_sandbox):
    return make_sandbox(users=0, n8n_auth_header="X-Sylo-Auth", n8n_auth_value="s3cret-value")


def post(running, path: str, body: dict | None = None, **headers) -> httpx.Response:
    """Call an n8n webhook as the command forwarder would: plain POST, no Nango key."""
    return httpx.post(f"{running.url}/webhook/{path}", json=body or {"command": "noop"}, headers=headers, timeout=10)


def test_sylo_commands_records_calls(n8n):
    n8n.admin.delete("/n8n/calls")
    body = {"command": "send_invoice_reminder", "invoice_id": "INV-0042"}
    assert post(n8n, "sylo-commands", body, **{"X-Trace": "t-1"}).status_code == 200
    [call] = n8n.admin.get("/n8n/calls").json()["calls"]
    assert (call["path"], call["method"], call["body"]) == ("sylo-commands", "POST", body)
    assert {k.lower(): v for k, v in call["headers"].items()}["x-trace"] == "t-1"


@pytest.mark.parametrize("value", [None, "wrong", "s3cret-valu"])
def test_header_auth_rejects_missing_or_wrong_values(guarded, value):
    headers = {"X-Sylo-Auth": value} if value else {}
    response = post(guarded, "sylo-commands", **headers)
    assert response.status_code == 403
    assert NOT_AUTHORISED in response.text


def test_header_auth_accepts_the_configured_value(guarded):
    assert post(guarded, "sylo-commands", **{"X-Sylo-Auth": "s3cret-value"}).status_code == 200


def test_unregistered_path_is_n8ns_404(n8n):
    response = post(n8n, "not-a-workflow")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == 404
    assert body["message"] == 'The requested webhook "POST not-a-workflow" is not registered.'
    assert body["hint"]


def test_wrong_method_is_404_naming_the_right_one(n8n):
    response = httpx.get(f"{n8n.url}/webhook/sylo-commands", timeout=10)
    assert response.status_code == 404
    assert response.json()["message"] == ("This webhook is not registered for GET requests. "
                                           "Did you mean to make a POST request?")


def test_respond_immediately(n8n):
    n8n.admin.put("/n8n/workflows/quick", json={"respond": "immediately"})
    response = post(n8n, "quick")
    assert (response.status_code, response.json()) == (200, {"message": "Workflow was started"})


def test_respond_node_sends_its_status_and_body(n8n):
    n8n.admin.put("/n8n/workflows/answer", json={"respond": "respond_node", "status": 202, "result": {"ok": True}})
    response = post(n8n, "answer")
    assert (response.status_code, response.json()) == (202, {"ok": True})


def test_fail_next_fails_once_then_succeeds(n8n):
    n8n.admin.put("/n8n/workflows/flaky", json={"respond": "last_node", "result": {"done": 1}, "fail_next": 1})
    first, second = post(n8n, "flaky"), post(n8n, "flaky")
    assert first.status_code == 500
    assert first.json() == {"message": "Error in workflow"}
    assert (second.status_code, second.json()) == (200, {"done": 1})


def test_unregistered_workflow_answers_404_again(n8n):
    n8n.admin.put("/n8n/workflows/temporary", json={"respond": "immediately"})
    assert post(n8n, "temporary").status_code == 200
    n8n.admin.delete("/n8n/workflows/temporary")
    assert post(n8n, "temporary").status_code == 404


def test_header_auth_refusals_are_plain_text_with_a_basic_challenge(guarded):
    response = post(guarded, "sylo-commands", **{"X-Sylo-Auth": "wrong"})
    assert (response.status_code, response.text) == (403, NOT_AUTHORISED)
    assert response.headers["WWW-Authenticate"] == 'Basic realm="Webhook"'
    assert "json" not in response.headers.get("Content-Type", "")


def test_a_missing_credential_is_n8ns_500(guarded):
    guarded.admin.put("/n8n/workflows/sylo-commands", json={"credential": "missing"})
    response = post(guarded, "sylo-commands", **{"X-Sylo-Auth": "s3cret-value"})
    assert (response.status_code, response.text) == (500, "No authentication data defined on node!")


def test_a_restart_answers_as_n8n_boots_then_runs_the_workflow(make_sandbox):
    running = make_sandbox(users=0)
    plan = {"starting_up": {"calls": 1}, "html_404": {"calls": 2}, "not_registered": {"calls": 2}}
    assert running.admin.post("/n8n/restart", json=plan).status_code == 200
    answers = [post(running, "sylo-commands") for _ in range(6)]
    assert [a.status_code for a in answers] == [200, 404, 404, 404, 404, 200]
    assert answers[0].text == "n8n is starting up. Please wait"  # a 2xx that is not the workflow's answer
    assert answers[1].headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<pre>Cannot POST /webhook/sylo-commands</pre>" in answers[1].text
    not_registered = answers[3].json()
    assert not_registered["message"] == 'The requested webhook "POST sylo-commands" is not registered.'
    assert not_registered["hint"].startswith("The workflow must be active")
    assert answers[5].json()["ok"] is True
    calls = running.admin.get("/n8n/calls").json()["calls"]
    assert [c["status"] for c in calls] == [a.status_code for a in answers]


def test_a_restart_stage_can_last_a_while(make_sandbox):
    running = make_sandbox(users=0)
    running.admin.post("/n8n/restart", json={"html_404": {"calls": 0, "seconds": 0.3},
                                             "not_registered": {"calls": 0}})
    first = post(running, "sylo-commands")
    assert first.status_code == 404
    time.sleep(0.4)  # the stage's own clock, not a race: it ends only after its seconds
    assert post(running, "sylo-commands").status_code == 200


SIGNING_SECRET = "whsec_" + base64.b64encode(b"n8n-and-sylo-share-this-secret-32").decode()


def signed_post(running, path: str, raw: bytes, secret: str = SIGNING_SECRET) -> httpx.Response:
    message_id, at = "cmd_" + uuid.uuid4().hex[:24], datetime.now(timezone.utc)
    headers = {"webhook-id": message_id, "webhook-timestamp": str(int(at.timestamp())),
               "webhook-signature": Webhook(secret).sign(message_id, at, raw.decode()),
               "Content-Type": "application/json"}
    return httpx.post(f"{running.url}/webhook/{path}", content=raw, headers=headers, timeout=10)


def test_the_workflow_can_verify_sylos_signature_on_the_raw_bytes(make_sandbox):
    running = make_sandbox(users=0, n8n_signing_secret=SIGNING_SECRET)
    running.admin.put("/n8n/workflows/sylo-commands", json={"verify_signature": True})
    raw = json.dumps({"id": "cmd_1", "params": {"name": "Zoë — 東京"}}, ensure_ascii=False).encode()
    assert signed_post(running, "sylo-commands", raw).status_code == 200
    assert signed_post(running, "sylo-commands", raw, secret="whsec_" + "A" * 32).status_code == 401
    [good, _bad] = running.admin.get("/n8n/calls").json()["calls"]
    assert base64.b64decode(good["raw_base64"]) == raw  # what arrived, byte for byte


def test_a_long_running_workflow_answers_running_then_reports_its_result_signed(make_sandbox, receiver):
    running = make_sandbox(users=0)
    base = receiver.url.removesuffix("/nango-webhooks")
    assert running.admin.put("/n8n", json={"signing_secret": SIGNING_SECRET, "callback_url": base}).json() == {
        "callback_url": base, "signing_secret_set": True, "starting": []}
    running.admin.put("/n8n/workflows/veo", json={"status": 202, "result": {"status": "running"}, "callback": {
        "status": "succeeded", "result": {"video_url": "https://cdn.example/v.mp4"}, "hold": True}})
    answer = post(running, "veo", {"id": "cmd_0123", "user_id": "u_1", "action": "veo.generate_video"})
    assert (answer.status_code, answer.json()) == (202, {"status": "running"})
    assert receiver.requests == []  # held until released
    released = running.admin.post("/n8n/callbacks").json()["released"]
    assert [r["status"] for r in released] == [200]
    [request] = receiver.requests
    assert request["path"] == "/v1/commands/cmd_0123/result"
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert Webhook(SIGNING_SECRET).verify(request["raw"], headers) == {
        "id": "cmd_0123", "user_id": "u_1", "status": "succeeded", "result": {"video_url": "https://cdn.example/v.mp4"}}
