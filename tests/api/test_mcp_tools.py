"""Tools and prompts a model can use without guessing (issue 12 item 4).

Every tool name is one real clients accept; every parameter says what it is and which document
field it comes from, and those fields exist in the exported documents, filled in; gids go in as
strings or numbers; a retried action with the same idempotency key acts once; get_context_doc's
JSON comes back structured, matching its output schema; the prompts are built from the documents.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest

from api import create_app
from pipelines.documents.build import UserData, build_documents
from pipelines.documents.export import atomic_write
from sylo.commands.catalog import CATALOG, TOOL_NAME
from sylo.export_layout import ExportLayout, KINDS
from tests.api.conftest import NOW

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "context"
FIELD_PATH = re.compile(r"`([a-z_]+)\[\]\.([a-z_]+)`")  # `overdue_invoices[].contact_id`


@pytest.fixture(scope="module")
def queued_app(deployment):
    """Commands are stored and queued, never delivered: this is about what the tools accept."""
    return create_app(deployment.settings.model_copy(update={"command_wait_seconds": 0}), deployment.appdb)


@pytest.fixture
def rpc(queued_app, deployment):
    client = queued_app.test_client()
    counter = iter(range(1, 10_000))

    def call(method: str, params: dict | None = None, user: int = 0) -> dict:
        body = {"jsonrpc": "2.0", "id": next(counter), "method": method, "params": params or {}}
        response = client.post("/mcp", json=body, headers=deployment.headers(deployment.users[user]))
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    return call


def tool(rpc, name: str, arguments: dict, user: int = 0) -> dict:
    return rpc("tools/call", {"name": name, "arguments": arguments}, user)["result"]


def document(deployment, kind: str, user: int = 0) -> dict:
    return json.loads(ExportLayout(deployment.settings.exports).context(deployment.users[user], kind, "json")
                      .read_text())


def properties(schema: dict, where: str = ""):
    """Every (path, property schema) in an input schema, nested objects and $defs included."""
    for name, prop in schema.get("properties", {}).items():
        yield f"{where}{name}", prop
    for name, definition in schema.get("$defs", {}).items():
        yield from properties(definition, f"{where}$defs.{name}.")


def test_every_tool_name_is_one_clients_accept_and_every_parameter_is_described(rpc):
    tools = rpc("tools/list")["result"]["tools"]
    assert len(tools) == 3 + len(CATALOG)
    for listed in tools:
        assert TOOL_NAME.fullmatch(listed["name"]), listed["name"]
        assert listed["description"]
        described = list(properties(listed["inputSchema"]))
        for path, prop in described:
            assert len(prop.get("description", "")) > 10, f"{listed['name']}.{path} has no description"
    for prompt in rpc("prompts/list")["result"]["prompts"]:
        assert TOOL_NAME.fullmatch(prompt["name"])


def test_capabilities_name_each_actions_tool(client, rpc):
    actions = client.get("/v1/capabilities").get_json()["actions"]
    assert {a["tool"]: a["action"] for a in actions} == {a.replace(".", "_"): a for a in CATALOG}
    listed = {t["name"] for t in rpc("tools/list")["result"]["tools"]}
    assert {a["tool"] for a in actions} <= listed


def test_descriptions_name_document_fields_that_exist_and_are_filled_in(rpc, deployment):
    documents = {kind: document(deployment, kind) for kind in KINDS if kind != "all"}
    named = set()
    for listed in rpc("tools/list")["result"]["tools"]:
        for _, prop in properties(listed["inputSchema"]):
            named |= set(FIELD_PATH.findall(prop.get("description", "")))
    assert {("projects", "id"), ("overdue", "assignee_gid"), ("overdue_invoices", "contact_id"),
            ("threads", "id"), ("overdue", "id")} <= named
    for array, field in named:
        items = [item for body in documents.values() for item in (body.get(array) or [])]
        assert items, f"no document has {array}[]"
        assert all(field in item for item in items), f"{array}[].{field} is not in every item"
        assert any(item[field] for item in items), f"{array}[].{field} is never filled in"


def test_the_documents_carry_every_id_the_actions_take(deployment):
    tasks, money, mail, projects = (document(deployment, kind) for kind in
                                    ("tasks", "financials", "communications", "projects"))
    task = tasks["overdue"][0]
    assert task["id"].isdigit() and task["project_id"].isdigit()
    assert any(t["assignee_gid"] for t in tasks["overdue"] + tasks["due_soon"])
    assert all(re.fullmatch(r"[0-9a-f-]{36}", i["contact_id"]) for i in money["overdue_invoices"])
    assert any("@" in (t["counterpart_email"] or "") for t in mail["threads"])
    assert any(p["client_contact_id"] for p in projects["projects"])
    for item in ("overdue_invoices", "due_in_30_days"):
        assert all("contact_id" in i for i in money[item])


def test_actions_take_ids_straight_from_the_documents_gids_as_numbers_too(rpc, deployment, queued_app):
    tasks, money = document(deployment, "tasks"), document(deployment, "financials")
    task = tasks["overdue"][0]
    outbox = queued_app.extensions["sylo"].commands.outbox
    for gid in (task["id"], int(task["id"])):
        sent = tool(rpc, "asana_comment", {"task_gid": gid, "text": "Drawings sent."})
        assert sent["isError"] is False and sent["structuredContent"]["status"] == "queued"
        assert outbox.get(sent["structuredContent"]["id"]).params["task_gid"] == task["id"]  # forwarded as text
    assignee = next(t["assignee_gid"] for t in tasks["overdue"] + tasks["due_soon"] if t["assignee_gid"])
    created = tool(rpc, "asana_create_task", {"project_gid": int(task["project_id"]), "name": "Call the client",
                                              "assignee_gid": assignee})
    assert created["isError"] is False
    invoice = money["overdue_invoices"][0]
    drafted = tool(rpc, "xero_create_draft_invoice", {"contact_id": invoice["contact_id"], "line_items": [
        {"description": "Stage 2", "quantity": 1, "unit_amount": "950.00"}]})
    assert drafted["isError"] is False
    reminded = tool(rpc, "xero_send_invoice_reminder", {"invoice_id": invoice["id"]})
    assert reminded["isError"] is False
    for bad in (True, -5, "12a", 1.5):
        refused = tool(rpc, "asana_complete_task", {"task_gid": bad})
        assert refused["isError"] is True and "task_gid" in refused["content"][0]["text"]


def test_a_retry_with_the_same_idempotency_key_acts_once(rpc, queued_app, deployment):
    arguments = {"task_gid": "1201", "text": "Sent the drawings.", "idempotency_key": "retry-7f3a"}
    first = tool(rpc, "asana_comment", arguments)["structuredContent"]
    again = tool(rpc, "asana_comment", arguments)["structuredContent"]
    assert again["id"] == first["id"] and "Already sent" in again["note"]
    stored = queued_app.extensions["sylo"].commands.outbox.get(first["id"])
    assert stored.params == {"task_gid": "1201", "text": "Sent the drawings."}  # the key is never forwarded
    other = tool(rpc, "asana_comment", {**arguments, "text": "Something else"})
    assert other["isError"] is True and "already used for another command" in other["content"][0]["text"]
    without = [tool(rpc, "asana_comment", {"task_gid": "1201", "text": "twice"})["structuredContent"]["id"]
               for _ in range(2)]
    assert without[0] != without[1]


@pytest.mark.parametrize("kind", KINDS)
def test_get_context_doc_in_json_is_structured_and_matches_its_output_schema(rpc, deployment, kind):
    [listed] = [t for t in rpc("tools/list")["result"]["tools"] if t["name"] == "get_context_doc"]
    output_schema = listed["outputSchema"]
    result = tool(rpc, "get_context_doc", {"kind": kind, "format": "json"})
    structured = result["structuredContent"]
    jsonschema.validate(structured, output_schema)
    assert structured["document"] == document(deployment, kind)
    jsonschema.validate(structured["document"], json.loads((SCHEMAS / f"{kind}.schema.json").read_text()))
    assert json.loads(result["content"][0]["text"]) == structured["document"]
    markdown = tool(rpc, "get_context_doc", {"kind": kind})
    jsonschema.validate(markdown["structuredContent"], output_schema)
    assert markdown["structuredContent"]["text"] == markdown["content"][0]["text"]


def test_the_daily_briefing_prompt_carries_the_briefing(rpc, deployment):
    names = [p["name"] for p in rpc("prompts/list")["result"]["prompts"]]
    assert names == ["daily_briefing", "chase_overdue_invoices"]
    messages = rpc("prompts/get", {"name": "daily_briefing"})["result"]["messages"]
    embedded = messages[1]["content"]["resource"]
    assert embedded["uri"] == "sylo://context/all.md"
    assert embedded["text"] == ExportLayout(deployment.settings.exports).context(deployment.users[0], "all", "md") \
        .read_text()
    assert "not connected, stale or failing, say so" in messages[0]["content"]["text"]


def test_the_chase_prompt_lists_overdue_invoices_with_their_ids_and_the_clients_threads(rpc, deployment):
    overdue = document(deployment, "financials")["overdue_invoices"]
    messages = rpc("prompts/get", {"name": "chase_overdue_invoices"})["result"]["messages"]
    assert "xero_send_invoice_reminder" in messages[0]["content"]["text"]
    data = json.loads(messages[1]["content"]["text"].removeprefix("```json\n").removesuffix("\n```"))
    assert [i["id"] for i in data["overdue_invoices"]] == [i["id"] for i in overdue]
    assert data["notice"].startswith("Text in double quotes")
    clients = {i["contact"] for i in overdue}
    assert all(t["client"] in clients for t in data["client_threads"])
    longest = max(i["days_overdue"] for i in overdue)
    fewer = rpc("prompts/get", {"name": "chase_overdue_invoices", "arguments": {"min_days_overdue": str(longest)}})
    assert len(json.loads(fewer["result"]["messages"][1]["content"]["text"][8:-4])["overdue_invoices"]) < len(overdue)
    none = rpc("prompts/get", {"name": "chase_overdue_invoices", "arguments": {"min_days_overdue": "100000"}})
    assert "list no invoice 100000 or more days overdue" in none["result"]["messages"][0]["content"]["text"]


def test_the_chase_prompt_never_says_nothing_is_overdue_when_xero_is_unknown(rpc, deployment, queued_app):
    user = deployment.users[2]
    unknown = build_documents(user, UserData(), NOW, timedelta(hours=6))["financials"]
    atomic_write(ExportLayout(deployment.settings.exports).context(user, "financials", "json"),
                 unknown.model_dump_json().encode())
    try:
        text = rpc("prompts/get", {"name": "chase_overdue_invoices"}, user=2)["result"]["messages"][0]["content"]["text"]
    finally:
        ExportLayout(deployment.settings.exports).context(user, "financials", "json").unlink()
    assert "does not know my invoices" in text and "no invoice" not in text
    nothing = rpc("prompts/get", {"name": "daily_briefing"}, user=2)["result"]["messages"][0]["content"]["text"]
    assert "has not exported any documents" in nothing


@pytest.mark.parametrize(("params", "code"), [({"name": "nope"}, -32602),
                                               ({"name": "chase_overdue_invoices",
                                                 "arguments": {"min_days_overdue": "soon"}}, -32602)])
def test_bad_prompt_requests_are_invalid_params(rpc, params, code):
    assert rpc("prompts/get", params)["error"]["code"] == code
