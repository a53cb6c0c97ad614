"""Bodies on every route that takes one: limits hold for chunked bodies, and no JSON drives a 500.

Chunked bodies go over a real socket (werkzeug's test client does not stream them the way
gunicorn and werkzeug's server hand them to the app).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from standardwebhooks import Webhook

from api.bodies import BodyTooLarge, InvalidJson, parse_json, read_body
from sylo.commands.outbox import Outbox
from sylo.keyring import Keyring
from tests.api.conftest import NANGO_WEBHOOK_KEYS

LIMITS = {"/v1/commands": 64 * 1024, "/mcp": 1024 * 1024, "/webhooks/nango": 256 * 1024}
DEEP = b"[" * 30_000 + b"]" * 30_000


@pytest.fixture(scope="module")
def signer(deployment, app):
    """A signing secret for the third user, so commands get past the signature check."""
    user_id = deployment.users[2]
    _, secret = deployment.appdb.rotate_signing_secret(user_id, Keyring.from_settings(deployment.settings),
                                                       grace=timedelta(hours=1))
    app.extensions["sylo"].commands.secrets.keys(refresh=True)

    def sign(body: bytes) -> dict:
        message_id = f"msg_{uuid.uuid4().hex}"
        signature = Webhook(secret).sign(message_id, datetime.now(timezone.utc), body.decode())
        return {"webhook-id": message_id, "webhook-timestamp": str(int(datetime.now(timezone.utc).timestamp())),
                "webhook-signature": signature, "X-Sylo-User": user_id}

    return user_id, sign


def route_headers(path: str, body: bytes, deployment, signer) -> dict:
    """What each route needs to get past its checks before the body is read and parsed."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if path == "/mcp":
        headers.update(deployment.headers(deployment.users[0]))
    elif path == "/webhooks/nango":
        headers["X-Nango-Hmac-Sha256"] = hmac.new(NANGO_WEBHOOK_KEYS[0].encode(), body, hashlib.sha256).hexdigest()
    else:
        headers.update(signer[1](body))
    return headers


def padded(path: str, size: int) -> bytes:
    """A message the route would take, padded with a long string to `size` bytes."""
    message = {"/v1/commands": {"action": "asana.comment", "params": {"task_gid": "1201", "text": ""}},
               "/mcp": {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"_pad": ""}},
               "/webhooks/nango": {"type": "sync", "connectionId": "c1", "providerConfigKey": "asana", "pad": ""}}[path]
    body = json.dumps(message).encode()
    return body.replace(b'""', b'"' + b"x" * (size - len(body)) + b'"', 1)


@pytest.mark.parametrize("path", list(LIMITS))
def test_a_chunked_body_over_the_limit_is_413(live_url, deployment, signer, path):
    body = padded(path, LIMITS[path] + 300_000)
    chunks = [body[i:i + 16_384] for i in range(0, len(body), 16_384)]
    response = httpx.post(live_url + path, content=iter(chunks), timeout=30,
                          headers=route_headers(path, body, deployment, signer))
    assert response.status_code == 413, response.text
    if path == "/v1/commands":
        assert response.json()["type"] == "urn:sylo:problem:too-large"
        assert Outbox(deployment.appdb.engine).audit_entries(signer[0]) == []  # nothing accepted
        assert Outbox(deployment.appdb.engine).refusals(1)[0].detail.startswith("body too large")


@pytest.mark.parametrize("path", list(LIMITS))
def test_a_chunked_body_within_the_limit_is_read_whole(live_url, deployment, signer, path):
    body = padded(path, LIMITS[path] - 10) if path != "/v1/commands" else padded(path, 9_000)
    chunks = [body[i:i + 4096] for i in range(0, len(body), 4096)]
    response = httpx.post(live_url + path, content=iter(chunks), timeout=30,
                          headers=route_headers(path, body, deployment, signer))
    assert response.status_code != 413 and response.status_code < 500, response.text
    assert response.status_code != 400, response.text  # the whole body arrived and parsed


@pytest.mark.parametrize("path", list(LIMITS))
def test_json_nested_30000_deep_is_a_400_not_a_500(live_url, deployment, signer, path):
    response = httpx.post(live_url + path, content=DEEP, timeout=30,
                          headers=route_headers(path, DEEP, deployment, signer))
    assert response.status_code == 400, response.text
    if path == "/mcp":
        assert response.json()["error"]["code"] == -32700
    else:
        assert response.headers["Content-Type"] == "application/problem+json"


class CountingStream(io.RawIOBase):
    """An endless body that counts what the app read from it."""

    def __init__(self):
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        buffer[:] = b"x" * len(buffer)
        self.read_bytes += len(buffer)
        return len(buffer)


@pytest.mark.parametrize("limit", [1, 1000, 64 * 1024, 1024 * 1024])
def test_the_reader_reads_at_most_one_byte_past_the_limit(app, limit):
    stream = CountingStream()
    environ = {"wsgi.input": stream, "wsgi.input_terminated": True}  # a chunked body: no Content-Length
    with app.test_request_context("/x", method="POST", environ_overrides=environ):
        with pytest.raises(BodyTooLarge):
            read_body(limit)
    assert stream.read_bytes == limit + 1


@pytest.mark.parametrize(("body", "reason"), [
    (DEEP, "nested deeper"), (b'{"a":' * 65 + b"1" + b"}" * 65, "nested deeper"),
    (b'["\\ud800"]', "lone surrogate"), (b'{"\\udfff": 1}', "lone surrogate"),
    (b"\xff\xfe", "not valid JSON"), (b"{", "not valid JSON")])
def test_the_parser_refuses_what_no_route_can_take(body, reason):
    with pytest.raises(InvalidJson, match=reason):
        parse_json(body)


def test_the_parser_takes_ordinary_json():
    assert parse_json(b'{"a": [1, {"b": "\\u00e9\\ud83d\\ude00"}]}') == {"a": [1, {"b": "é😀"}]}
    assert parse_json(b"[" * 64 + b"]" * 64) is not None  # 64 levels are fine
