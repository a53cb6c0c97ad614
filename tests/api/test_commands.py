"""Signed commands: accepted once, refused clearly, audited always, forwarded to n8n only when accepted."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook

from api import create_app
from sylo.appdb import AppDB
from sylo.commands import build_worker
from sylo.commands.outbox import Outbox
from sylo.keyring import Keyring
from sylo.settings import Settings

N8N_AUTH = "n8n-header-auth-value-0123456789"
N8N_SECRET = "whsec_" + "c2VjcmV0LWZvci1uOG4tc2lnbmF0dXJlcy0wMTIzNDU2Nzg="
TASK = {"action": "asana.create_task", "params": {"project_gid": "1201", "name": "Send the Harbour Road drawings"}}


@dataclass
class Studio:
    settings: Settings
    appdb: AppDB
    client: object
    sandbox: object
    secrets: dict
    tokens: dict

    def n8n_calls(self) -> list[dict]:
        return self.sandbox.admin.get("/n8n/calls").json()["calls"]

    def delivered_ids(self) -> list[str]:
        return [c["body"]["id"] for c in self.n8n_calls() if c["status"] and c["status"] < 300]

    def audit(self, user_id=None) -> list:
        outbox = Outbox(self.appdb.engine)
        return outbox.audit_entries(user_id) if user_id else outbox.refusals()

    def send(self, user: str, payload, *, message_id: str | None = None, secret: str | None = None,
             at: datetime | None = None, raw: bytes | None = None, headers: dict | None = None,
             environ: dict | None = None):
        body = raw if raw is not None else json.dumps(payload).encode()
        message_id = message_id or f"msg_{uuid.uuid4().hex}"
        at = at or datetime.now(timezone.utc)
        signature = Webhook(secret or self.secrets[user]).sign(message_id, at, body.decode(errors="replace"))
        signed = {"webhook-id": message_id, "webhook-timestamp": str(int(at.timestamp())),
                  "webhook-signature": signature, "Content-Type": "application/json", **(headers or {})}
        return self.client.post("/v1/commands", data=body, headers=signed, environ_base=environ or {})


def make_studio(make_sandbox, tmp_path, **overrides) -> Studio:
    sandbox = make_sandbox(users=0, n8n_auth_value=N8N_AUTH)
    options = {"data_dir": tmp_path, "n8n_url": sandbox.url, "n8n_auth_value": N8N_AUTH,
               "n8n_signing_secret": N8N_SECRET, "command_wait_seconds": 5, **overrides}
    settings = Settings(_env_file=None, **options)
    appdb = AppDB.from_settings(settings)
    appdb.migrate()
    keyring = Keyring.from_settings(settings)
    secrets, tokens = {}, {}
    for name in ("alice", "bob"):
        credentials = appdb.create_user_with_credentials(name, f"{name}@studio.example", keyring)
        secrets[name], tokens[name] = credentials.signing_secret, credentials.api_token
    return Studio(settings, appdb, create_app(settings, appdb).test_client(), sandbox, secrets, tokens)


@pytest.fixture
def studio(make_sandbox, tmp_path) -> Studio:
    return make_studio(make_sandbox, tmp_path)


def test_capabilities_publish_each_action_with_its_schema(studio):
    actions = {a["action"]: a for a in studio.client.get("/v1/capabilities").get_json()["actions"]}
    assert {"asana.create_task", "asana.complete_task", "asana.comment", "gmail.draft_reply", "gmail.send_email",
            "xero.create_draft_invoice", "xero.send_invoice_reminder", "veo.generate_video",
            "meta.publish_post"} <= set(actions)
    schema = actions["asana.create_task"]["params_schema"]
    assert set(schema["required"]) == {"project_gid", "name"} and schema["additionalProperties"] is False


def test_a_signed_command_is_forwarded_once_and_answered_with_n8ns_result(studio):
    response = studio.send("alice", TASK)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "delivered" and body["attempts"] == 1
    assert body["result"]["ok"] is True and body["result"]["action"] == "asana.create_task"
    [call] = studio.n8n_calls()
    assert call["path"] == "sylo-commands" and call["headers"]["X-Sylo-Auth"] == N8N_AUTH
    assert call["headers"]["Idempotency-Key"] == body["id"] == call["headers"]["Webhook-Id"]
    assert call["body"]["params"] == TASK["params"] and call["body"]["user_id"] == "alice"
    forwarded = json.dumps(call["body"], separators=(",", ":"))
    Webhook(N8N_SECRET).verify(forwarded, {k.lower(): v for k, v in call["headers"].items()})  # n8n can verify it
    kinds = [e.kind for e in studio.audit("alice")]
    assert kinds[:2] == ["command.delivered", "command.accepted"]


def test_a_replayed_message_returns_the_original_and_is_not_forwarded_again(studio):
    first = studio.send("alice", TASK, message_id="msg_once")
    again = studio.send("alice", TASK, message_id="msg_once")
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["replayed"] is True
    assert len(studio.n8n_calls()) == 1
    other_user = studio.send("bob", TASK, message_id="msg_once")  # ids are per user
    assert other_user.get_json()["id"] != first.get_json()["id"]
    assert [e.kind for e in studio.audit("alice")][0] == "command.replayed"


def test_without_a_wait_the_command_is_queued_and_the_worker_delivers_it(make_sandbox, tmp_path):
    studio = make_studio(make_sandbox, tmp_path, command_wait_seconds=0)
    response = studio.send("bob", TASK)
    assert response.status_code == 202
    status_url = response.headers["Location"]
    assert response.get_json()["status"] == "queued" and studio.n8n_calls() == []
    assert build_worker(studio.settings, studio.appdb).drain_once() == 1
    status = studio.client.get(status_url, headers={"Authorization": f"Bearer {studio.tokens['bob']}"}).get_json()
    assert status["status"] == "delivered" and status["result"]["ok"] is True
    assert studio.client.get(status_url, headers={"Authorization": f"Bearer {studio.tokens['alice']}"}).status_code == 404


def stale(_studio):
    return {"at": datetime.now(timezone.utc) - timedelta(minutes=6)}


REFUSALS = {
    "missing signature": (401, "invalid-signature", lambda s: {"headers": {"webhook-signature": ""}}),
    "garbage signature": (401, "invalid-signature", lambda s: {"headers": {"webhook-signature": "v1,%%%"}}),
    "unknown scheme only": (401, "invalid-signature", lambda s: {"headers": {"webhook-signature": "v2,abc"}}),
    "no comma": (401, "invalid-signature", lambda s: {"headers": {"webhook-signature": "v1"}}),
    "wrong secret": (401, "invalid-signature", lambda s: {"secret": "whsec_" + "A" * 32}),
    "another user's secret": (401, "invalid-signature",
                              lambda s: {"secret": s.secrets["bob"], "headers": {"X-Sylo-User": "alice"}}),
    "stale timestamp": (401, "stale-timestamp", stale),
    "future timestamp": (401, "stale-timestamp", lambda s: {"at": datetime.now(timezone.utc) + timedelta(minutes=6)}),
    "fractional timestamp": (401, "invalid-signature", lambda s: {"headers": {"webhook-timestamp": "1.5"}}),
    "dotted message id": (401, "invalid-signature", lambda s: {"message_id": "a.b"}),
    "not json": (400, "malformed-command", lambda s: {"raw": b"{not json"}),
    "not an object": (400, "malformed-command", lambda s: {"raw": b"[1, 2]"}),
    "unknown action": (422, "unknown-action", lambda s: {"payload": {"action": "bank.transfer", "params": {}}}),
    "invalid params": (422, "invalid-params",
                       lambda s: {"payload": {"action": "asana.create_task", "params": {"project_gid": "x"}}}),
    "extra params": (422, "invalid-params", lambda s: {"payload": {**TASK, "params": {**TASK["params"], "x": 1}}}),
    "extra fields": (422, "invalid-params", lambda s: {"payload": {**TASK, "user_id": "bob"}}),
    "oversized": (413, "too-large", lambda s: {"raw": b'{"action": "' + b"x" * 70_000 + b'"}'}),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_every_refusal_is_a_problem_is_audited_and_never_reaches_n8n(studio, case):
    status, slug, make = REFUSALS[case]
    options = make(studio)
    payload = options.pop("payload", TASK)
    response = studio.send("alice", payload, **options)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["type"] == f"urn:sylo:problem:{slug}" and problem["detail"]
    assert studio.secrets["alice"] not in response.get_data(as_text=True)
    assert studio.audit()[0].kind == "command.refused"
    assert studio.n8n_calls() == []
    assert Outbox(studio.appdb.engine).counts() == {}


def test_the_rate_limit_answers_429_with_retry_after(make_sandbox, tmp_path):
    studio = make_studio(make_sandbox, tmp_path, command_rate_limit=3, command_wait_seconds=0)
    statuses = [studio.send("alice", TASK).status_code for _ in range(4)]
    assert statuses == [202, 202, 202, 429]
    refused = studio.send("alice", TASK)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert studio.send("bob", TASK).status_code == 202  # per user
    assert Outbox(studio.appdb.engine).counts() == {"queued": 4}


def test_rotation_keeps_the_old_secret_valid_through_the_grace_period(studio):
    keyring = Keyring.from_settings(studio.settings)
    _, new_secret = studio.appdb.rotate_signing_secret("alice", keyring, grace=timedelta(hours=1))
    studio.client.application.extensions["sylo"].commands.secrets.keys(refresh=True)
    assert studio.send("alice", TASK, secret=new_secret).status_code == 200
    assert studio.send("alice", TASK).status_code == 200  # the old one, still within its grace
    body = json.dumps(TASK).encode()
    at, message_id = datetime.now(timezone.utc), "msg_both"
    both = " ".join(Webhook(s).sign(message_id, at, body.decode()) for s in (studio.secrets["alice"], new_secret))
    response = studio.client.post("/v1/commands", data=body, headers={
        "webhook-id": message_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": both})
    assert response.status_code == 200


def test_an_inactive_workflow_is_retried_not_failed_at_once(studio):
    # n8n answers 404 "not registered" while it starts, too (issue 13.1); test_command_outcomes has the rest.
    studio.sandbox.admin.delete("/n8n/workflows/sylo-commands")
    response = studio.send("alice", TASK)
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued" and "is not registered" in body["last_error"]
    assert len(studio.n8n_calls()) == 1


def test_n8n_5xx_is_retried_until_delivered_once(studio):
    studio.sandbox.admin.put("/n8n/workflows/sylo-commands", json={"fail_next": 2})
    response = studio.send("alice", TASK)
    assert response.status_code == 202 and response.get_json()["last_error"].startswith("n8n answered 500")
    worker = build_worker(studio.settings, studio.appdb)
    deadline = time.monotonic() + 20
    while studio.delivered_ids() == [] and time.monotonic() < deadline:
        worker.drain_once()
        time.sleep(0.2)
    assert studio.delivered_ids() == [response.get_json()["id"]]
    assert [c["status"] for c in studio.n8n_calls()] == [500, 500, 200]


def test_mcp_tools_send_commands_through_the_same_path(studio):
    headers = {"Authorization": f"Bearer {studio.tokens['bob']}"}
    listed = studio.client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=headers)
    tools = {t["name"]: t for t in listed.get_json()["result"]["tools"]}
    assert tools["gmail_send_email"]["annotations"]["destructiveHint"] is True
    call = studio.client.post("/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "asana_comment", "arguments": {"task_gid": "42", "text": "Drawings sent."}}})
    result = call.get_json()["result"]
    assert result["isError"] is False and result["structuredContent"]["status"] == "delivered"
    [forwarded] = studio.n8n_calls()
    assert forwarded["body"]["action"] == "asana.comment" and forwarded["body"]["source"] == "mcp"
    bad = studio.client.post("/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "asana_comment", "arguments": {"task_gid": "not-a-gid", "text": "x"}}})
    assert bad.get_json()["result"]["isError"] is True
    assert len(studio.n8n_calls()) == 1
    assert [e.source for e in studio.audit("bob")][:2] == ["mcp", "mcp"]


def test_wrong_signatures_cannot_force_a_reload_of_every_secret_each_time(studio, monkeypatch):
    cache = studio.client.application.extensions["sylo"].commands.secrets
    cache.keys(refresh=True)
    loads = []
    original = cache._load
    monkeypatch.setattr(cache, "_load", lambda: loads.append(1) or original())
    for _ in range(5):
        assert studio.send("alice", TASK, secret="whsec_" + "B" * 32).status_code == 401
    assert len(loads) == 0  # loaded moments ago: a miss reloads at most every few seconds


# -- hardening (issue 14) ----------------------------------------------------------------------------


def forged(studio, user: str = "alice", address: str = "203.0.113.7", **headers):
    """A command that claims to come from `user` but is signed with a secret nobody holds."""
    return studio.send(user, TASK, secret="whsec_" + "A" * 32, headers={"X-Sylo-User": user, **headers},
                       environ={"REMOTE_ADDR": address})


def test_a_forged_refusal_is_not_attributed_to_the_user_it_names(studio):
    response = forged(studio, "alice")
    assert response.status_code == 401
    assert studio.audit("alice") == []  # alice's Activity page stays hers
    [refusal] = studio.audit()
    assert refusal.user_id is None and refusal.kind == "command.refused"
    assert "'alice'" in refusal.detail  # the operator still sees whom it claimed to be


def test_refusals_before_the_signature_verifies_are_bounded_per_address(make_sandbox, tmp_path):
    studio = make_studio(make_sandbox, tmp_path, signature_failure_limit=5)
    statuses = [forged(studio).status_code for _ in range(12)]
    assert statuses == [401] * 5 + [429] * 7
    throttled = forged(studio)
    assert throttled.get_json()["type"] == "urn:sylo:problem:too-many-failures"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert len(studio.audit()) == 5  # throttled attempts cost no audit row
    too_large = studio.send("alice", None, raw=b"x" * 70_000, environ={"REMOTE_ADDR": "203.0.113.7"})
    assert too_large.status_code == 429  # every refusal before verification counts against the address
    assert forged(studio, address="198.51.100.1").status_code == 401  # other addresses are not affected
    assert studio.send("bob", TASK, environ={"REMOTE_ADDR": "198.51.100.1"}).status_code == 200


@pytest.mark.parametrize(("hops", "expected"), [(0, [401, 401, 429]), (1, [401, 401, 401])],
                         ids=["forwarded-for ignored", "one trusted proxy"])
def test_the_client_address_is_the_peer_unless_a_proxy_is_trusted(make_sandbox, tmp_path, hops, expected):
    studio = make_studio(make_sandbox, tmp_path, signature_failure_limit=2, trusted_proxy_hops=hops)
    statuses = [forged(studio, address="127.0.0.1", **{"X-Forwarded-For": f"198.51.100.{i}"}).status_code
                for i in range(3)]
    assert statuses == expected


def test_status_links_use_the_public_url_not_the_host_header(make_sandbox, tmp_path):
    studio = make_studio(make_sandbox, tmp_path, public_url="https://sylo.studio.example", command_wait_seconds=0)
    response = studio.send("alice", TASK, headers={"Host": "evil.example"})
    assert response.status_code == 202
    assert response.get_json()["status_url"].startswith("https://sylo.studio.example/v1/commands/cmd_")
    assert response.headers["Location"] == response.get_json()["status_url"]
    status = studio.client.get(response.headers["Location"].removeprefix("https://sylo.studio.example"),
                               headers={"Authorization": f"Bearer {studio.tokens['alice']}", "Host": "evil.example"})
    assert status.get_json()["status_url"] == response.get_json()["status_url"]


def test_with_redis_unreachable_commands_are_503_audited_and_reads_keep_serving(make_sandbox, tmp_path, caplog):
    studio = make_studio(make_sandbox, tmp_path, redis_url="redis://127.0.0.1:1/0", signature_failure_limit=3)
    responses = [studio.send("alice", TASK) for _ in range(3)]
    for response in responses:
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.get_json()["type"] == "urn:sylo:problem:rate-limit-unavailable"
        assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert [e.detail for e in studio.audit("alice")][:1] == ["rate limit unavailable (Redis unreachable)"]
    assert studio.n8n_calls() == [] and Outbox(studio.appdb.engine).counts() == {}
    assert not [r for r in caplog.records if r.exc_info]  # no traceback per request...
    warned = [r.getMessage().split(":")[0] for r in caplog.records if "Redis" in r.getMessage()]
    assert warned and len(warned) == len(set(warned)), warned  # ...and one warning per outage and part
    # the abuse bound still holds, per process, without Redis
    assert [forged(studio).status_code for _ in range(4)] == [401, 401, 401, 429]
    headers = {"Authorization": f"Bearer {studio.tokens['bob']}"}
    assert studio.client.get("/v1/context", headers=headers).status_code == 200
    listed = studio.client.post("/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert listed.status_code == 200 and listed.get_json()["result"]["tools"]
    call = studio.client.post("/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                                             "params": {"name": "asana_comment", "arguments": {
                                                                 "task_gid": "42", "text": "Drawings sent."}}})
    assert call.status_code == 200 and call.get_json()["result"]["isError"] is True
    assert "try again" in call.get_json()["result"]["content"][0]["text"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_studio(request, make_sandbox, tmp_path) -> Studio:
    url = request.getfixturevalue("postgres_database") if request.param == "postgres" else None
    return make_studio(make_sandbox, tmp_path, app_db_url=url)


BAD_INPUT = {
    "long X-Sylo-User": (401, "invalid-signature", lambda s: {"headers": {"X-Sylo-User": "u" * 300}}),
    "X-Sylo-User of another shape": (401, "invalid-signature", lambda s: {"headers": {"X-Sylo-User": "a b/../c"}}),
    "superscript timestamp": (401, "invalid-signature", lambda s: {"headers": {"webhook-timestamp": "²"}}),
    "arabic-indic timestamp": (401, "invalid-signature", lambda s: {"headers": {"webhook-timestamp": "١٧٠٠٠٠٠٠٠٠"}}),
    "nested 30,000 deep": (400, "malformed-command", lambda s: {"raw": b"[" * 30_000 + b"]" * 30_000}),
    "NUL in the action": (422, "unknown-action", lambda s: {"payload": {"action": "a\u0000b", "params": {}}}),
    "lone surrogate in the action": (400, "malformed-command", lambda s: {"raw": b'{"action": "\\ud800", "params": {}}'}),
    "lone surrogate in a param": (400, "malformed-command", lambda s: {"raw": json.dumps(
        {"action": "asana.comment", "params": {"task_gid": "1", "text": "x"}}).replace('"x"', '"\\udfff"').encode()}),
    "non-ascii task gid": (422, "invalid-params",
                           lambda s: {"payload": {"action": "asana.comment", "params": {"task_gid": "١٢٣", "text": "x"}}}),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_a_4xx_problem_never_a_500(any_db_studio, case):
    studio = any_db_studio
    status, slug, make = BAD_INPUT[case]
    options = make(studio)
    response = studio.send("alice", options.pop("payload", TASK), **options)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["type"] == f"urn:sylo:problem:{slug}"
    assert studio.audit()[0].kind == "command.refused"
    assert studio.n8n_calls() == [] and Outbox(studio.appdb.engine).counts() == {}


@pytest.mark.parametrize(("command_id", "status", "slug"), [("x" * 300, 404, "unknown-command"),
                                                           ("cmd_\u0000", 400, "bad-request")], ids=["long", "NUL"])
def test_looking_up_a_malformed_command_id_is_a_4xx(any_db_studio, command_id, status, slug):
    studio = any_db_studio
    response = studio.client.get(f"/v1/commands/{command_id}",
                                 headers={"Authorization": f"Bearer {studio.tokens['alice']}"})
    assert response.status_code == status and response.get_json()["type"] == f"urn:sylo:problem:{slug}"
