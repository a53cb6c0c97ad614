"""Nango's proxy: `<METHOD> /proxy/<provider path>` to Gmail, Asana or Xero (reference/nango.md §4).

Only `Nango-Proxy-*` headers reach the provider (prefix stripped); provider errors come back
unchanged; Nango's own failures use its envelope. With a `Retries` header Nango retries 5xx,
429, 401 and network errors itself, waiting `Retry-After` where the provider sends one.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from werkzeug.datastructures import Headers, MultiDict
from werkzeug.wrappers import Request, Response

from sandbox import faults as fault_kinds
from sandbox.connections import INTEGRATIONS, Connection
from sandbox.http import Reply, Upstream, nango_error
from sandbox.providers import asana, gmail, xero
from sandbox.server import DropConnection

if TYPE_CHECKING:
    from sandbox.state import SandboxState

PROVIDERS = {"gmail": gmail, "asana": asana, "xero": xero}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "content-length"}
# Nango's upstream HTTP client (axios) sends this unless the caller overrides it.
DEFAULT_ACCEPT = "application/json, text/plain, */*"
RETRY_AFTER_PROVIDERS = {"asana", "xero"}  # providers.yaml `retry.after: retry-after`


def _header_errors(request: Request) -> list[dict]:
    errors = []
    for name in ("Connection-Id", "Provider-Config-Key"):
        value = request.headers.get(name)
        if not value:
            errors.append({"code": "invalid_type", "message": "Required", "path": [name.lower()]})
        elif len(value) > 255:
            errors.append({"code": "too_big", "message": "At most 255 characters", "path": [name.lower()]})
    if request.headers.get("Retries") and not re.fullmatch(r"[0-9]+", request.headers["Retries"]):
        errors.append({"code": "invalid_type", "message": "Expected number", "path": ["retries"]})
    if request.headers.get("Retry-On") and not re.fullmatch(r"\d+(,\d+)*", request.headers["Retry-On"]):
        errors.append({"code": "invalid_string", "message": "Invalid", "path": ["retry-on"]})
    for name in ("Decompress", "Forward-Headers-On-Redirect"):
        if request.headers.get(name) not in (None, "true", "false"):
            errors.append({"code": "invalid_enum_value", "message": "Expected 'true' | 'false'", "path": [name.lower()]})
    return errors


def forwarded_headers(request: Request, connection: Connection) -> Headers:
    """What the provider sees: Nango's auth, axios' Accept, and the stripped Nango-Proxy-* headers."""
    headers = Headers({"Authorization": f"Bearer {connection.access_token()}", "Accept": DEFAULT_ACCEPT})
    if request.content_type:
        headers["Content-Type"] = request.content_type
    for name, value in request.headers.items():
        if name.lower().startswith("nango-proxy-") and len(name) > 12:
            headers.set(name[12:], value)
    return headers


class Proxy:
    def __init__(self, state: SandboxState):
        self.state = state

    def handle(self, request: Request) -> Response:
        errors = _header_errors(request)
        if errors:
            return nango_error(400, "invalid_headers", "Invalid headers", errors=errors)
        integration = request.headers["Provider-Config-Key"]
        if integration not in INTEGRATIONS:
            return nango_error(404, "unknown_provider_config", f"Provider config {integration} not found")
        connection = self.state.registry.find(request.headers["Connection-Id"], integration)
        if connection is None:
            return nango_error(400, "server_error", "Failed to get connection")
        if connection.errors:
            return nango_error(400, "server_error", "Failed to get connection credentials: invalid_grant "
                                                    "(the refresh token was revoked; reconnect needed)")
        raw = request.environ.get("RAW_URI", request.full_path)
        path, _, query = raw.removeprefix("/proxy").partition("?")
        upstream = Upstream(method=request.method, path=path or "/", args=MultiDict(parse_qsl(query, keep_blank_values=True)),
                            headers=forwarded_headers(request, connection), body=request.get_data(),
                            account=self.state.world.user(connection.account), connection=connection,
                            limits=self.state.limits, clock_ms=self.state.world.clock_ms)
        retries = int(request.headers.get("Retries", "0"))
        retry_on = {int(code) for code in request.headers.get("Retry-On", "").split(",") if code}
        return self._send(upstream, connection.service, retries, retry_on)

    def _send(self, up: Upstream, service: str, retries: int, retry_on: set[int]) -> Response:
        for attempt in range(retries + 1):
            reply = self._attempt(up, service, allow_drop=retries == 0)
            if attempt == retries or not self._retryable(reply, retry_on):
                return self._to_response(reply)
            time.sleep(self._wait(reply, service, attempt) * self.state.config.nango_retry_scale)
        raise AssertionError("unreachable")

    @staticmethod
    def _retryable(reply: Reply, retry_on: set[int]) -> bool:
        return reply.status >= 500 or reply.status in (429, 401) or reply.status in retry_on

    @staticmethod
    def _wait(reply: Reply, service: str, attempt: int) -> float:
        after = reply.headers.get("Retry-After")
        if service in RETRY_AFTER_PROVIDERS and after and re.fullmatch(r"[0-9]+", after):
            return min(600.0, float(after))
        return min(600.0, 3.0 * 2**attempt)

    def _attempt(self, up: Upstream, service: str, *, allow_drop: bool) -> Reply:
        module = PROVIDERS[service]
        applicable = set(fault_kinds.KINDS)
        if not module.cursor_expires(up):
            applicable.discard("expired_cursor")
        fault = self.state.faults.draw(service, up.path, applicable)
        if fault in fault_kinds.BEFORE:
            return self._before(fault, up, module, allow_drop)
        reply = module.dispatch(up)
        if fault and reply.status == 200 and reply.data is not None:
            if fault == "malformed_json":
                body = reply.body()
                return Reply(200, raw=body[: max(1, len(body) // 2)], headers=reply.headers)
            reply.data = module.corrupt(reply.data)
        return reply

    def _before(self, fault: str, up: Upstream, module, allow_drop: bool) -> Reply:
        config = self.state.faults.config
        if fault in ("rate_limit", "rate_limit_zero"):
            reply = module.rate_limited(config.retry_after)
            reply.headers["Retry-After"] = "0" if fault == "rate_limit_zero" else str(config.retry_after)
            return reply
        if fault == "nango_rate_limit":
            return Reply(429, {"error": {"code": "too_many_request", "method": up.method, "path": "/proxy" + up.path}},
                         {"Retry-After": str(config.retry_after), "X-Nango-Fault": "1"})
        if fault == "server_error":
            return module.server_error()
        if fault == "timeout":
            time.sleep(config.timeout_seconds)
            return Reply(500, {"message": "timeout of 30000ms exceeded", "code": "ETIMEDOUT", "status": None,
                               "method": up.method})
        if fault == "reset" and allow_drop:
            raise DropConnection()
        if fault == "reset":
            return Reply(500, {"message": "socket hang up", "code": "ECONNRESET", "status": None, "method": up.method})
        return module.expired_cursor(up)

    def _to_response(self, reply: Reply) -> Response:
        headers = {k: v for k, v in reply.headers.items() if k.lower() not in HOP_BY_HOP}
        headers.pop("X-Nango-Fault", None)
        headers.setdefault("Content-Type", reply.content_type())
        return Response(reply.body(), status=reply.status, headers=headers)

