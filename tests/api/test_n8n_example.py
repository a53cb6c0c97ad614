"""The n8n workflow users import: it listens where Sylo forwards, checks header auth, and answers every action."""

from __future__ import annotations

import json
from pathlib import Path

from sylo.commands.catalog import CATALOG
from sylo.commands.delivery import DEFAULT_PATH

WORKFLOW = json.loads((Path(__file__).resolve().parents[2] / "examples" / "n8n" / "sylo-commands.json").read_text())
NODES = {node["name"]: node for node in WORKFLOW["nodes"]}


def test_the_webhook_listens_where_sylo_forwards_with_header_auth():
    [webhook] = [n for n in NODES.values() if n["type"] == "n8n-nodes-base.webhook"]
    parameters = webhook["parameters"]
    assert f"/webhook/{parameters['path']}" == DEFAULT_PATH
    assert parameters["httpMethod"] == "POST" and parameters["authentication"] == "headerAuth"
    assert parameters["responseMode"] == "responseNode" and "httpHeaderAuth" in webhook["credentials"]


def test_every_action_reaches_a_respond_to_webhook_node():
    [switch] = [n for n in NODES.values() if n["type"] == "n8n-nodes-base.switch"]
    rules = switch["parameters"]["rules"]["values"]
    outputs = WORKFLOW["connections"][switch["name"]]["main"]
    assert len(outputs) == len(rules) + 1  # one per rule, plus the fallback
    for action in CATALOG:
        matched = [i for i, rule in enumerate(rules)
                   if all(action.startswith(c["rightValue"]) for c in rule["conditions"]["conditions"])]
        assert len(matched) == 1, action
        [target] = outputs[matched[0]]
        assert NODES[target["node"]]["type"] == "n8n-nodes-base.respondToWebhook"
    [fallback] = outputs[-1]
    assert NODES[fallback["node"]]["parameters"]["options"]["responseCode"] == 422
