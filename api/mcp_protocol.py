"""MCP over one JSON-RPC message: both protocol eras, with no Flask in sight.

A request whose `params._meta` names a protocol version is handled as 2026-07-28 (stateless:
routing headers must agree with the body, results carry `resultType`, list and read results carry
`ttlMs`/`cacheScope`, errors map to HTTP statuses). Anything else is the handshake era
(`initialize`, versions up to 2025-11-25), where errors travel with HTTP 200 because older
clients tear the session down on any other status. See reference/protocols.md §1.3–1.5.

Wire shapes come from `mcp_types`, the SDK's own pydantic models, so field names and casing
match what clients parse.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from pydantic import BaseModel

LEGACY_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")
MODERN_VERSIONS = ("2026-07-28",)
VERSION_META = "io.modelcontextprotocol/protocolVersion"
CAPABILITIES_META = "io.modelcontextprotocol/clientCapabilities"
SERVER_INFO_META = "io.modelcontextprotocol/serverInfo"

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = -32700, -32600, -32601, -32602, -32603
RESOURCE_NOT_FOUND_LEGACY = -32002
HEADER_MISMATCH, UNSUPPORTED_VERSION = -32020, -32022
MODERN_HTTP_STATUS = {PARSE_ERROR: 400, INVALID_REQUEST: 400, INVALID_PARAMS: 400, HEADER_MISMATCH: 400,
                      -32021: 400, UNSUPPORTED_VERSION: 400, METHOD_NOT_FOUND: 404}
NAME_BEARING = {"tools/call": "name", "resources/read": "uri", "prompts/get": "name"}
MODERN_ONLY_FIELDS = ("resultType", "ttlMs", "cacheScope")
_BASE64_SENTINEL = re.compile(r"=\?base64\?(?P<payload>[A-Za-z0-9+/]*={0,2})\?=")


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


@dataclass(frozen=True)
class Reply:
    """What goes back over HTTP: a status and one JSON-RPC object (or nothing, for 202)."""

    status: int
    body: dict | None = None


@dataclass(frozen=True)
class Era:
    modern: bool
    version: str

    def not_found_code(self) -> int:
        return INVALID_PARAMS if self.modern else RESOURCE_NOT_FOUND_LEGACY


Handler = Callable[[dict, Era], Any]


def error_body(request_id: Any, code: int, message: str, data: Any = None) -> dict:
    error = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def decode_header(value: str | None) -> str | None:
    """Undo the `=?base64?...?=` encoding clients use for non-ASCII header values."""
    if value is None:
        return None
    match = _BASE64_SENTINEL.fullmatch(value)
    if match is None:
        return value
    try:
        return base64.b64decode(match["payload"], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


class Protocol:
    """Route one parsed JSON-RPC message to a method handler, in the era the message speaks."""

    def __init__(self, server_info: types.Implementation, capabilities: types.ServerCapabilities,
                 instructions: str, methods: Mapping[str, Handler]):
        self.server_info, self.capabilities, self.instructions = server_info, capabilities, instructions
        self.methods = dict(methods)

    def handle(self, message: Any, headers: Mapping[str, str]) -> Reply:
        if isinstance(message, list):
            return Reply(400, error_body(None, INVALID_REQUEST, "Batches are not supported (removed in 2025-06-18)."))
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return Reply(400, error_body(None, INVALID_REQUEST, "Expected one JSON-RPC 2.0 object."))
        if _is_notification(message) or _is_response(message):
            return Reply(202)  # nothing to answer: we send no requests, and notifications owe no reply
        if "method" not in message or "id" not in message:
            return Reply(400, error_body(None, INVALID_REQUEST,
                                         "Not a JSON-RPC request, notification or response."))
        request_id, method, params = message["id"], message["method"], message.get("params", {})
        if not isinstance(method, str) or not isinstance(params, dict) or not _valid_id(request_id):
            return Reply(400, error_body(request_id if _valid_id(request_id) else None, INVALID_REQUEST,
                                         "method must be a string, params an object and id a string or number (not null)."))
        meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
        if VERSION_META in meta:
            return self._modern(request_id, method, params, meta, headers)
        return self._legacy(request_id, method, params, headers)

    # -- 2026-07-28 ------------------------------------------------------------------------------

    def _modern(self, request_id: Any, method: str, params: dict, meta: dict, headers: Mapping[str, str]) -> Reply:
        try:
            era = self._modern_era(method, params, meta, headers)
            if method != "server/discover" and (method in ("initialize", "ping") or method not in self.methods):
                raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method}")
            result = self._result(method, params, era)
        except RpcError as error:
            return Reply(MODERN_HTTP_STATUS.get(error.code, 200),
                         error_body(request_id, error.code, error.message, error.data))
        result.setdefault("resultType", "complete")
        result.setdefault("_meta", {})[SERVER_INFO_META] = self.server_info.model_dump(by_alias=True,
                                                                                       exclude_none=True)
        return Reply(200, {"jsonrpc": "2.0", "id": request_id, "result": result})

    def _modern_era(self, method: str, params: dict, meta: dict, headers: Mapping[str, str]) -> Era:
        version = meta[VERSION_META]
        if version not in MODERN_VERSIONS:
            raise RpcError(UNSUPPORTED_VERSION, f"Unsupported protocol version: {version}",
                           {"supported": [*MODERN_VERSIONS, *LEGACY_VERSIONS], "requested": version})
        if not isinstance(meta.get(CAPABILITIES_META), dict):
            raise RpcError(INVALID_PARAMS, f"params._meta must carry {CAPABILITIES_META}.")
        expected = {"MCP-Protocol-Version": version, "Mcp-Method": method}
        if method in NAME_BEARING:
            expected["Mcp-Name"] = params.get(NAME_BEARING[method])
        for header, value in expected.items():
            sent = decode_header(headers.get(header))
            if sent != value:
                raise RpcError(HEADER_MISMATCH, f"Header {header} ({sent!r}) does not match the body ({value!r}).")
        return Era(modern=True, version=version)

    # -- handshake era -------------------------------------------------------------------------

    def _legacy(self, request_id: Any, method: str, params: dict, headers: Mapping[str, str]) -> Reply:
        try:
            era = Era(modern=False, version=self._legacy_version(method, headers))
        except RpcError as error:  # the transport spec asks for 400 on an unsupported version header
            return Reply(400, error_body(request_id, error.code, error.message, error.data))
        try:
            if method == "initialize":
                result = self._initialize(params)
            elif method == "ping":
                result = {}
            elif method == "server/discover" or method not in self.methods:
                raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method}")
            else:
                result = self._result(method, params, era)
        except RpcError as error:
            # HTTP 200: handshake-era clients end the whole session on any other status.
            return Reply(200, error_body(request_id, error.code, error.message, error.data))
        for field in MODERN_ONLY_FIELDS:
            result.pop(field, None)
        return Reply(200, {"jsonrpc": "2.0", "id": request_id, "result": result})

    def _legacy_version(self, method: str, headers: Mapping[str, str]) -> str:
        version = headers.get("MCP-Protocol-Version")
        if version is None or method == "initialize":
            return "2025-03-26"  # what the spec says to assume when the header is absent
        if version not in LEGACY_VERSIONS:
            raise RpcError(INVALID_REQUEST, f"Unsupported MCP-Protocol-Version: {version}",
                           {"supported": list(LEGACY_VERSIONS), "requested": version})
        return version

    def _initialize(self, params: dict) -> dict:
        requested = params.get("protocolVersion")
        version = requested if requested in LEGACY_VERSIONS else LEGACY_VERSIONS[0]
        result = types.InitializeResult(protocol_version=version, capabilities=self.capabilities,
                                        server_info=self.server_info, instructions=self.instructions)
        return dump(result)

    # -- shared ----------------------------------------------------------------------------------

    def discover(self, _params: dict, _era: Era) -> dict:
        return dump(types.DiscoverResult(supported_versions=[*MODERN_VERSIONS, *LEGACY_VERSIONS],
                                         capabilities=self.capabilities, instructions=self.instructions,
                                         ttl_ms=0, cache_scope="private"))

    def _result(self, method: str, params: dict, era: Era) -> dict:
        handler = self.discover if method == "server/discover" else self.methods[method]
        result = handler(params, era)
        return dump(result) if isinstance(result, BaseModel) else result


def dump(model: Any) -> dict:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def _is_notification(message: dict) -> bool:
    return isinstance(message.get("method"), str) and "id" not in message and \
        isinstance(message.get("params", {}), dict)


def _is_response(message: dict) -> bool:
    return "method" not in message and _valid_id(message.get("id")) and \
("result" in message or "error" in message)


def _valid_id(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)
