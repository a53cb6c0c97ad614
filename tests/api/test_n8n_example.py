"""The n8n workflow users import (examples/n8n/sylo-commands.json): it imports and activates as the README
says, listens where Sylo forwards, and its Code nodes verify Sylo's signature byte for byte, drop
duplicates and sign async results Sylo accepts. The Code nodes run here under Node.js, as n8n runs them."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr

from sylo.commands import signing
from sylo.commands.catalog import CATALOG
from sylo.commands.delivery import DEFAULT_PATH, Forwarder
from sylo.commands.outbox import Command
from sylo.commands.results import Report
from sylo.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = json.loads((ROOT / "examples" / "n8n" / "sylo-commands.json").read_text())
NODES = {node["name"]: node for node in WORKFLOW["nodes"]}
README = (ROOT / "README.md").read_text()
SECRET = "whsec_" + base64.b64encode(b"the-secret-sylo-and-n8n-share!!!").decode()
HARNESS = r"""
const fs = require('fs');
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const staticData = input.staticData;
Object.assign(globalThis, {
  require, $env: input.env, $input: { all: () => input.items },
  $getWorkflowStaticData: () => staticData,
  helpers: { getBinaryDataBuffer: async () => { throw new Error('the binary data store is not used here'); } },
});
const run = new Function('return (async function() {' + input.code + '\n}).call(globalThis);');
run().then((result) => process.stdout.write(JSON.stringify({ result, staticData })))
  .catch((error) => { process.stderr.write(String(error.stack)); process.exit(1); });
"""


def webhook() -> dict:
    [node] = [n for n in NODES.values() if n["type"] == "n8n-nodes-base.webhook"]
    return node


def targets(name: str, output: int = 0) -> list[str]:
    return [t["node"] for t in WORKFLOW["connections"].get(name, {"main": [[]]})["main"][output]]


# -- importing and activating --------------------------------------------------------------------

def test_a_stable_id_so_importing_again_updates_in_place():
    assert WORKFLOW["id"] == "syloCommands0001"
    assert f"--id={WORKFLOW['id']}" in README  # the README's activate and publish steps name it


def test_the_credential_is_referenced_by_the_name_the_readme_gives():
    reference = webhook()["credentials"]["httpHeaderAuth"]
    assert reference["name"] == "Sylo header auth" and f"*{reference['name']}*" in README
    assert reference["id"] == "syloHeaderAuth01"


def test_successful_executions_keep_no_data_so_the_auth_header_is_not_stored():
    settings = WORKFLOW["settings"]
    assert settings["saveDataSuccessExecution"] == "none" and settings["saveManualExecutions"] is False


def test_the_webhook_listens_where_sylo_forwards_with_header_auth_and_the_raw_body():
    parameters = webhook()["parameters"]
    assert f"/webhook/{parameters['path']}" == DEFAULT_PATH
    assert parameters["httpMethod"] == "POST" and parameters["authentication"] == "headerAuth"
    assert parameters["responseMode"] == "responseNode" and parameters["options"]["rawBody"] is True
    assert targets(webhook()["name"]) == ["Verify signature"]


def test_every_route_reaches_a_respond_to_webhook_node():
    [switch] = [n for n in NODES.values() if n["type"] == "n8n-nodes-base.switch"]
    rules = [r["outputKey"] for r in switch["parameters"]["rules"]["values"]]
    outputs = WORKFLOW["connections"][switch["name"]]["main"]
    assert len(outputs) == len(rules) + 1  # one per rule, plus the fallback for unknown actions
    for service in {action.service for action in CATALOG.values()}:
        [target] = outputs[rules.index(service)]
        assert NODES[target["node"]]["type"] == "n8n-nodes-base.respondToWebhook"
    statuses = {rule: NODES[outputs[i][0]["node"]]["parameters"]["options"]["responseCode"]
                for i, rule in enumerate(rules)}
    assert statuses == {"refused": 401, "duplicate": 200, "duplicate_running": 202, "asana": 200, "gmail": 200,
                        "xero": 200, "veo": 202, "meta": 200}
    [fallback] = outputs[-1]
    assert NODES[fallback["node"]]["parameters"]["options"]["responseCode"] == 422


def test_veo_answers_running_then_reports_its_result_to_sylo():
    assert targets("Respond: veo running") == ["Remember command id", "Generate video (replace me)"]
    assert targets("Generate video (replace me)") == ["Sign result"]
    assert targets("Sign result") == ["Report result to Sylo"]
    report = NODES["Report result to Sylo"]["parameters"]
    assert (report["method"], report["contentType"], report["body"]) == ("POST", "raw", "={{ $json.body }}")
    assert {h["name"] for h in report["headerParameters"]["parameters"]} == {
        "webhook-id", "webhook-timestamp", "webhook-signature"}


# -- the Code nodes, run under Node.js -----------------------------------------------------------

node_js = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js runs the workflow's Code nodes")


def run_code(name: str, items: list[dict], static: dict | None = None, env: dict | None = None) -> tuple[list, dict]:
    code = NODES[name]["parameters"]["jsCode"]
    payload = {"code": code, "items": items, "staticData": static if static is not None else {},
               "env": {"SYLO_N8N_SIGNING_SECRET": SECRET, "SYLO_PUBLIC_URL": "https://sylo.example", **(env or {})}}
    done = subprocess.run(["node", "-e", HARNESS], input=json.dumps(payload), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout)
    return output["result"], output["staticData"]


def forwarded(params: dict, action: str = "asana.create_task", secret: str = SECRET,
              at: datetime | None = None) -> dict:
    """An item as the Webhook node hands it on: headers, parsed body, raw body in binary.data."""
    settings = Settings(_env_file=None, n8n_url="http://n8n", n8n_signing_secret=SecretStr(secret),
                        n8n_auth_value=SecretStr("header-value"))
    at = at or datetime.now(timezone.utc)
    command = Command("cmd_" + "a1" * 12, "alice", "msg_1", action, params, "mcp", "delivering", 1, at, None, None,
                      None, at, at, None)
    forwarder = Forwarder(settings)
    raw = forwarder.body(command)
    headers = {k.lower(): v for k, v in forwarder.headers(command, raw).items()}
    headers.update(signing.sign(secret, command.id, raw, at=at))
    return {"json": {"headers": headers, "body": json.loads(raw)},
            "binary": {"data": {"data": base64.b64encode(raw).decode(), "mimeType": "application/json"}}}


NON_ASCII = {"project_gid": "1201", "name": "Zoë’s brief — 東京 ✓", "notes": "naïve café\u2028end"}


@node_js
def test_the_workflow_verifies_sylos_signature_on_the_raw_bytes_even_for_non_ascii():
    [item], _ = run_code("Verify signature", [forwarded(NON_ASCII)])
    assert item["json"]["route"] == "asana"
    assert item["json"]["command"]["params"] == NON_ASCII
    assert item["json"]["webhook_id"] == "cmd_" + "a1" * 12


def tampered() -> dict:
    item = forwarded(NON_ASCII)
    raw = base64.b64decode(item["binary"]["data"]["data"]).replace("東京".encode(), "大阪".encode())
    item["binary"]["data"]["data"] = base64.b64encode(raw).decode()
    return item


def without_raw_body() -> dict:
    item = forwarded(NON_ASCII)
    del item["binary"]
    return item


@node_js
@pytest.mark.parametrize("item, reason", [
    (tampered, "webhook-signature does not verify"),
    (lambda: forwarded(NON_ASCII, secret="whsec_" + base64.b64encode(b"x" * 32).decode()),
     "webhook-signature does not verify"),
    (lambda: forwarded(NON_ASCII, at=datetime.now(timezone.utc) - timedelta(minutes=6)),
     "webhook-timestamp is more than 5 minutes off"),
    (without_raw_body, "turn on the Webhook node's Raw Body option"),
], ids=["tampered", "another secret", "stale", "no raw body"])
def test_the_workflow_refuses_what_does_not_verify(item, reason):
    [routed], _ = run_code("Verify signature", [item()])
    assert routed["json"] == {"route": "refused", "reason": reason}


@node_js
def test_the_workflow_refuses_everything_without_its_secret():
    [routed], _ = run_code("Verify signature", [forwarded(NON_ASCII)], env={"SYLO_N8N_SIGNING_SECRET": ""})
    assert routed["json"]["reason"] == "SYLO_N8N_SIGNING_SECRET is not set in n8n"


@node_js
@pytest.mark.parametrize("action, params, duplicate_route", [
    ("asana.create_task", NON_ASCII, "duplicate"),
    ("veo.generate_video", {"prompt": "A slow pan"}, "duplicate_running"),
])
def test_a_command_answered_once_is_routed_to_a_duplicate_answer_after(action, params, duplicate_route):
    item = forwarded(params, action=action)
    [first], static = run_code("Verify signature", [item])
    assert first["json"]["route"] == action.split(".")[0]
    _, static = run_code("Remember command id", [first], static)
    assert list(static["syloHandled"]) == [first["json"]["webhook_id"]]
    [again], _ = run_code("Verify signature", [item], static)
    assert again["json"]["route"] == duplicate_route


@node_js
def test_an_unknown_service_goes_to_the_fallback():
    [routed], _ = run_code("Verify signature", [forwarded({"x": 1}, action="bank.transfer")])
    assert routed["json"]["route"] == "unknown"


@node_js
@pytest.mark.parametrize("produced, expected", [
    ({"result": {"video_url": "https://cdn.example/v.mp4", "title": "Zoë — 東京"}},
     {"status": "succeeded", "result": {"video_url": "https://cdn.example/v.mp4", "title": "Zoë — 東京"}}),
    ({"error": "Veo quota exhausted"}, {"status": "failed", "error": "Veo quota exhausted"}),
])
def test_the_signed_result_is_one_sylo_accepts(produced, expected):
    command = {"id": "cmd_" + "b2" * 12, "user_id": "alice", "action": "veo.generate_video", "params": {}}
    [signed], _ = run_code("Sign result", [{"json": {"command": command, **produced}}])
    out = signed["json"]
    assert out["url"] == f"https://sylo.example/v1/commands/{command['id']}/result"
    raw = out["body"].encode()  # the HTTP Request node sends the raw string as UTF-8
    headers = {"webhook-id": out["webhook_id"], "webhook-timestamp": out["webhook_timestamp"],
               "webhook-signature": out["webhook_signature"]}
    message_id, timestamp, signatures = signing.check_headers(headers)
    assert signing.matches([signing.secret_key(SECRET)], message_id, timestamp, raw, signatures)
    report = Report.model_validate_json(raw)
    assert (report.id, report.user_id) == (command["id"], "alice")
    assert report.model_dump(exclude_none=True, exclude={"id", "user_id"}) == expected


@node_js
def test_the_placeholder_video_step_hands_on_the_command():
    command = {"id": "cmd_" + "c3" * 12, "user_id": "alice", "action": "veo.generate_video",
               "params": {"prompt": "A slow pan"}}
    [made], _ = run_code("Generate video (replace me)", [{"json": {"command": command}}])
    assert made["json"]["command"] == command and made["json"]["result"]["prompt"] == "A slow pan"
