"""schemathesis against /openapi.json: no 5xx, and every response matches what the document says.

Examples are generated for every operation, both valid and invalid, with a real user's token;
the checks include status codes, content types, headers, response schemas and that
authenticated operations refuse requests without the token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.openapi import PATHS, document
from tests.api.conftest import NANGO_WEBHOOK_KEYS

# Loaded eagerly from the same document the server publishes (schemathesis' lazy fixture loader
# does not work with pytest 9); requests go to the live server over a real socket.
schema = schemathesis.openapi.from_dict(document("http://127.0.0.1", "test"))


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_behaves_as_documented(case, deployment, live_url):
    # GET and DELETE /mcp are documented as always 405 (the transport spec allows refusing them);
    # "valid data should get a 2xx" cannot hold for an operation whose only answer is a refusal.
    refusal_only = case.operation.path == "/mcp" and case.method != "POST"
    # The OAuth endpoints take only what Sylo issued (a client it registered, a code or token it minted):
    # random schema-valid values are rightly refused, so "valid data gets a 2xx" cannot hold there either.
    refusal_only = refusal_only or case.operation.path.startswith("/oauth/")
    headers, extra = deployment.headers(deployment.users[0]), {}
    if case.operation.path == "/webhooks/nango":
        extra["data"] = signed(case, headers)
    case.call_and_validate(base_url=live_url, headers=headers,
                           excluded_checks=[positive_data_acceptance] if refusal_only else None, **extra)


def signed(case, headers: dict) -> bytes:
    """Serialize the body once and sign those bytes as Nango would; schemathesis' auth probes drop the header."""
    serialized = case.as_transport_kwargs(headers=headers)
    body = json.dumps(serialized["json"]).encode() if "json" in serialized else serialized.get("data") or b""
    if isinstance(body, str):
        body = body.encode()
    headers["X-Nango-Hmac-Sha256"] = hmac.new(NANGO_WEBHOOK_KEYS[0].encode(), body, hashlib.sha256).hexdigest()
    return body


def test_the_published_document_is_the_one_tested(client):
    published = client.get("/openapi.json").get_json()
    assert published["paths"] == schema.raw_schema["paths"]


def test_every_route_is_documented(app):
    routes = {(rule.rule.replace("<", "{").replace(">", "}"), method.lower())
              for rule in app.url_map.iter_rules()
              if rule.endpoint != "static" and not rule.endpoint.startswith("dashboard.")  # HTML pages
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, operations in PATHS.items() for method in operations}
    assert routes == documented


def test_every_route_is_in_the_readme():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for path, operations in PATHS.items():
        documented = re.sub(r"\{(\w+?)(_id)?\}", lambda m: "<id>" if m.group(2) else "<kind>", path)
        for method in operations:
            assert f"`{method.upper()} {documented}" in readme or f"{method.upper()} {documented}" in readme, \
                f"{method.upper()} {path} is not in README.md"
