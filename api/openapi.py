"""`GET /openapi.json`: the HTTP contract, written to match what the routes do (schemathesis checks it)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from api.context import public_url
from api.document_store import CLIENTS, FORMATS, KINDS
from sylo.nango.webhooks import NANGO_WEBHOOK

bp = Blueprint("openapi", __name__)

PROBLEM = {"$ref": "#/components/schemas/Problem"}
PROBLEM_CONTENT = {"application/problem+json": {"schema": PROBLEM}}
RPC_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/JsonRpcResponse"}}}


def problem(description: str, headers: dict | None = None) -> dict:
    response = {"description": description, "content": PROBLEM_CONTENT}
    if headers:
        response["headers"] = headers
    return response


UNAUTHORIZED = problem("Missing, unknown or revoked API token (OAuth access tokens work on /mcp only).",
                       {"WWW-Authenticate": {"schema": {"type": "string"}}})
# OAuth errors are RFC 6749 JSON; a NUL anywhere in the request is refused before any route (problem+json).
OAUTH_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}}, **PROBLEM_CONTENT}
OAUTH_CLIENT_AUTH = [{}, {"oauthClientBasic": []}]  # public clients send client_id; confidential ones authenticate


def oauth_error(description: str, headers: dict | None = None) -> dict:
    response = {"description": description, "content": OAUTH_ERROR}
    if headers:
        response["headers"] = headers
    return response


def metadata_document(summary: str, operation: str, schema: str, description: str) -> dict:
    return {"get": {"summary": summary, "operationId": operation, "description": description,
                    "responses": {"200": {"description": "The metadata (any origin may read it).", "content": {
                        "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}}}}
RPC_ERROR = {"content": RPC_CONTENT}
# OpenAPI has no HMAC scheme; an API key in a header is the nearest description.
NANGO_SIGNATURE = {"type": "apiKey", "in": "header", "name": "X-Nango-Hmac-Sha256",
                   "description": "Not a key: the lowercase hex HMAC-SHA256 of the raw body under the Nango "
                                  "environment's webhook signing key (any key in SYLO_NANGO_WEBHOOK_KEYS)."}

PATHS = {
    "/v1/context": {"get": {
        "summary": "List the caller's context documents", "operationId": "listDocuments",
        "security": [{"bearer": []}],
        "responses": {"200": {"description": "The caller's exported documents, with links.",
                              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DocumentList"}}}},
                      "401": UNAUTHORIZED}}},
    "/v1/context/{name}": {"get": {
        "summary": "Read one context document", "operationId": "getDocument",
        "description": "`<kind>.<md|json|yaml>`, or `<kind>` alone with the format chosen by `Accept`. "
                       "Strong ETag; send `If-None-Match` to revalidate.",
        "security": [{"bearer": []}],
        "parameters": [
            {"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
             "examples": {"briefing": {"value": "all.md"}, "negotiated": {"value": "financials"}}},
            {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "The document.",
                    "headers": {"ETag": {"schema": {"type": "string"}}, "Cache-Control": {"schema": {"type": "string"}}},
                    "content": {"text/markdown": {"schema": {"type": "string"}},
                                "application/json": {"schema": {"type": "object"}},
                                "application/yaml": {"schema": {"type": "string"}}}},
            "304": {"description": "Not modified since the ETag in If-None-Match.",
                    "headers": {"ETag": {"schema": {"type": "string"}}}},
            "401": UNAUTHORIZED,
            "403": problem("The token may not read this kind (`kind-not-readable`, with `kind` and `readable`); "
                           "`all` needs every kind."),
            "404": problem("Unknown kind or format, or not exported yet for this user."),
            "406": problem("Accept names no format documents come in.")}}},
    "/v1/mcp/config": {"get": {
        "summary": "An MCP client's config for the caller", "operationId": "getMcpConfig",
        "security": [{"bearer": []}],
        "parameters": [
            {"name": "client", "in": "query", "required": True, "schema": {"type": "string", "enum": list(CLIENTS)}},
            {"name": "variant", "in": "query", "required": False,
             "schema": {"type": "string", "enum": ["shareable", "personal"], "default": "shareable"},
             "description": "shareable: the token as a variable reference; personal: the caller's token written in."}],
        "responses": {"200": {"description": "The config, in the client's own format.",
                              "content": {"application/json": {"schema": {"type": "object"}}}},
                      "400": problem("Missing or unknown client or variant."),
                      "401": UNAUTHORIZED}}},
    "/mcp": {
        "post": {
            "summary": "MCP Streamable HTTP endpoint (JSON responses, no sessions)", "operationId": "mcp",
            "description": "Handshake era (initialize, up to 2025-11-25) and 2026-07-28 (server/discover, "
                           "per-request _meta) on one endpoint. Takes an API token or an OAuth access token "
                           "issued for this endpoint (scopes context:read, commands:write).",
            "security": [{"bearer": []}, {"oauth": ["context:read"]}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/JsonRpcMessage"}}}},
            "responses": {
                "200": {"description": "A JSON-RPC result, or an error (handshake era, and modern errors "
                                       "that keep HTTP 200).", **RPC_ERROR},
                "202": {"description": "A notification or response was accepted."},
                "400": {"description": "Unparseable JSON (or nested deeper than 64 levels), a batch, a malformed "
                                       "message, or a modern-era error (-32602, -32020, -32022).", **RPC_ERROR},
                "401": {"description": "Missing, unknown, expired or revoked token, or an OAuth token for another "
                                       "resource; WWW-Authenticate names resource_metadata (RFC 9728) and the scopes.",
                        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}, **RPC_ERROR},
                "403": {"description": "Origin not in the allow-list, or an OAuth token without the scope the "
                                       "message needs (WWW-Authenticate: error=\"insufficient_scope\").",
                        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}, **RPC_ERROR},
                "404": {"description": "Modern era: method not found (-32601).", **RPC_ERROR},
                "406": {"description": "Accept allows no JSON.", **RPC_ERROR},
                "413": {"description": "Message larger than 1 MiB (chunked bodies included).", **RPC_ERROR},
                "415": {"description": "Content-Type is not application/json.", **RPC_ERROR}}},
        "get": {"summary": "Not offered: no server-to-client stream", "operationId": "mcpGet",
                "responses": {"405": problem("Only POST.", {"Allow": {"schema": {"type": "string"}}})}},
        "delete": {"summary": "Not offered: no sessions", "operationId": "mcpDelete",
                   "responses": {"405": problem("Only POST.", {"Allow": {"schema": {"type": "string"}}})}}},
    "/webhooks/nango": {"post": {
        "summary": "Receive a Nango webhook", "operationId": "receiveNangoWebhook",
        "description": "Nango's auth webhooks become connection events (creation and override: connected; a failed "
                       "refresh: needs_reauth, with Nango's reason; deletion: disconnected) that the connections "
                       "sensor turns into sync runs. Other types are acknowledged and ignored; redeliveries record "
                       "nothing new.",
        "security": [{"nangoSignature": []}],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/NangoWebhook"},
            "examples": {"creation": {"summary": "A connection made through a Connect session", "value": {
                "authMode": "OAUTH2", "connectionId": "4f7e2a9c-1b0d-4e57-9a43-2c8e5f6b7a10", "environment": "prod",
                "from": "nango", "operation": "creation", "provider": "asana", "providerConfigKey": "asana",
                "success": True, "tags": {"end_user_id": "u_example"}, "type": "auth"}}}}}},
        "responses": {
            "200": {"description": "Verified and handled: recorded, unchanged, duplicate or ignored.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NangoWebhookReceipt"}}}},
            "400": problem("Not JSON, or not shaped like a webhook Nango sends."),
            "401": problem("No X-Nango-Hmac-Sha256, or it matches none of SYLO_NANGO_WEBHOOK_KEYS.",
                           {"WWW-Authenticate": {"schema": {"type": "string"}}}),
            "409": problem("The webhook names another user for a connection Sylo knows; a connection's owner never "
                           "changes (`connection-owner-mismatch`, audited for the owner)."),
            "413": problem("Body larger than 256 KiB (chunked bodies included)."),
            "503": problem("SYLO_NANGO_WEBHOOK_KEYS is unset: webhooks cannot be verified.")}}},
    "/.well-known/oauth-protected-resource/mcp": metadata_document(
        "OAuth protected-resource metadata of /mcp (RFC 9728)", "protectedResourceMetadata", "ProtectedResource",
        "Where /mcp's 401 points: the resource (<public url>/mcp), its authorization server (Sylo) and scopes."),
    "/.well-known/oauth-protected-resource": metadata_document(
        "The same, where clients look when a 401 names none", "protectedResourceMetadataRoot", "ProtectedResource",
        "Sylo protects one resource, /mcp: this is its metadata."),
    "/.well-known/oauth-authorization-server": metadata_document(
        "OAuth authorization server metadata (RFC 8414)", "authorizationServerMetadata", "AuthorizationServer",
        "Endpoints, PKCE S256 only, iss in authorization responses, client ID metadata documents supported."),
    "/oauth/register": {"post": {
        "summary": "Register an OAuth client (RFC 7591)", "operationId": "registerOAuthClient",
        "description": "Open to anyone (throttled per address by SYLO_OAUTH_REGISTRATIONS_PER_HOUR); registering "
                       "grants nothing until the studio owner approves the client on the consent page. Redirect "
                       "URIs: https, or http to 127.0.0.1, [::1] or localhost (any port when used).",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "$ref": "#/components/schemas/ClientMetadata"}}}},
        "responses": {
            "201": {"description": "Registered: client_id (and client_secret, once, for a confidential client).",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RegisteredClient"}}}},
            "400": oauth_error("invalid_redirect_uri or invalid_client_metadata."),
            "413": oauth_error("Metadata larger than 16 KiB."),
            "429": oauth_error("Too many registrations from this address.",
                               {"Retry-After": {"schema": {"type": "string"}}})}}},
    "/oauth/token": {"post": {
        "summary": "Exchange a code or a refresh token for tokens", "operationId": "oauthToken",
        "description": "authorization_code (with code_verifier, S256) or refresh_token (rotated: the old one never "
                       "works again; a replay revokes the grant). resource, when sent, must be <public url>/mcp.",
        "security": OAUTH_CLIENT_AUTH,
        "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
            "$ref": "#/components/schemas/TokenRequest"}}}},
        "responses": {
            "200": {"description": "An access token for /mcp and its refresh token.", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/TokenResponse"}}}},
            "400": oauth_error("invalid_request, invalid_grant (a wrong verifier, a used or expired code or refresh "
                               "token), invalid_target, invalid_scope, unsupported_grant_type or invalid_client."),
            "401": oauth_error("A confidential client's credentials are wrong.",
                               {"WWW-Authenticate": {"schema": {"type": "string"}}})}}},
    "/oauth/revoke": {"post": {
        "summary": "Revoke a token (RFC 7009): its whole grant ends", "operationId": "oauthRevoke",
        "security": OAUTH_CLIENT_AUTH,
        "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
            "$ref": "#/components/schemas/RevocationRequest"}}}},
        "responses": {
            "200": {"description": "Revoked, or there was nothing to revoke.",
                    "content": {"application/json": {"schema": {"type": "object"}}}},
            "400": oauth_error("No token, or the token belongs to another client."),
            "401": oauth_error("Client authentication failed, or an unsupported token_type_hint.",
                               {"WWW-Authenticate": {"schema": {"type": "string"}}})}}},
    "/v1/capabilities": {"get": {
        "summary": "Every action an agent may send, with its parameter JSON Schema", "operationId": "capabilities",
        "responses": {"200": {"description": "The catalog.", "content": {"application/json": {"schema": {
            "type": "object", "required": ["actions"], "properties": {"actions": {"type": "array", "items": {
                "type": "object", "required": ["action", "tool", "description", "params_schema"],
                "properties": {"action": {"type": "string", "description": "The name POST /v1/commands takes."},
                               "tool": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$",
                                        "description": "The MCP tool that sends it."}}}}}}}}}}}},
    "/v1/commands": {"post": {
        "summary": "Send a signed command", "operationId": "submitCommand",
        "description": "Body `{\"action\": ..., \"params\": {...}}`, signed with the user's whsec_ secret per "
                       "Standard Webhooks (over `webhook-id.webhook-timestamp.body`, within 5 minutes). Each "
                       "webhook-id is accepted once per user; a replay returns the original command.",
        "parameters": [
            {"name": "webhook-id", "in": "header", "required": True, "schema": {"type": "string"}},
            {"name": "webhook-timestamp", "in": "header", "required": True, "schema": {"type": "string"}},
            {"name": "webhook-signature", "in": "header", "required": True, "schema": {"type": "string"}},
            {"name": "X-Sylo-User", "in": "header", "required": False, "schema": {"type": "string"},
             "description": "Optional: only this user's secrets are tried."}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["action"],
            "properties": {"action": {"type": "string"}, "params": {"type": "object"}}}}}},
        "responses": {
            "200": {"description": "Delivered: n8n's result (or a replay of a delivered command).",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Command"}}}},
            "202": {"description": "Accepted and stored; delivery continues, or (`awaiting_approval`) it waits for "
                                   "the studio owner's approval. Poll status_url.",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Command"}}}},
            "400": problem("The body is not a command object."),
            "401": problem("Missing, malformed or non-matching signature, or a stale timestamp."),
            "403": problem("The studio owner set this action to Never (`action-not-allowed`; `action` names it)."),
            "413": problem("Body larger than SYLO_COMMAND_MAX_BYTES (chunked bodies included)."),
            "422": problem("Unknown action or invalid params (`errors` lists each problem)."),
            "429": problem("The user's rate limit (`rate-limited`), the daily cap on actions that reach outside the "
                           "studio (`daily-limit-reached`, with `limit` and `resets_at`), or too many commands from "
                           "this address were refused before their signature verified (`too-many-failures`); "
                           "`Retry-After` says when to try again.", {"Retry-After": {"schema": {"type": "string"}}}),
            "502": problem("n8n refused the command (a 4xx); `command` holds its record."),
            "503": problem("The rate limit cannot be checked (Redis unreachable); `Retry-After` says when to try "
                           "again.", {"Retry-After": {"schema": {"type": "string"}}})}}},
    "/v1/commands/{command_id}": {"get": {
        "summary": "A command's status", "operationId": "getCommand", "security": [{"bearer": []}],
        "parameters": [{"name": "command_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "Status, attempts, and the result or the error.",
                              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Command"}}}},
                      "401": UNAUTHORIZED,
                      "404": problem("No such command for the caller.")}}},
    "/v1/commands/{command_id}/result": {"post": {
        "summary": "n8n reports the result of a long-running command", "operationId": "reportCommandResult",
        "description": "For a command whose workflow answered `202 {\"status\": \"running\"}`. Signed with "
                       "SYLO_N8N_SIGNING_SECRET per Standard Webhooks; each webhook-id is accepted once. `id` and "
                       "`user_id`, when given, must be the command's.",
        "parameters": [
            {"name": "command_id", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "webhook-id", "in": "header", "required": True, "schema": {"type": "string"}},
            {"name": "webhook-timestamp", "in": "header", "required": True, "schema": {"type": "string"}},
            {"name": "webhook-signature", "in": "header", "required": True, "schema": {"type": "string"}}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "$ref": "#/components/schemas/CommandResult"}}}},
        "responses": {
            "200": {"description": "The command is settled.", "content": {"application/json": {"schema": {
                "type": "object", "required": ["id", "status"],
                "properties": {"id": {"type": "string"}, "status": {"enum": ["succeeded", "failed"]}}}}}},
            "401": problem("Missing, malformed or non-matching signature, or a stale timestamp.",
                           {"WWW-Authenticate": {"schema": {"type": "string"}}}),
            "404": problem("No such command."),
            "409": problem("A replayed report, a command already finished, or a report naming another command."),
            "413": problem("Body larger than 256 KiB."),
            "422": problem("Not a result object."),
            "503": problem("SYLO_N8N_SIGNING_SECRET is unset: results cannot be verified.")}}},
    "/healthz": {"get": {
        "summary": "Health of the export folder, the app DB and Redis", "operationId": "healthz",
        "responses": {"200": {"description": "Everything answers (`degraded`: n8n keeps failing the same way).",
                              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}},
                      "503": {"description": "A check failed; `checks` says which.",
                              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}}}},
    "/metrics": {"get": {
        "summary": "Prometheus metrics", "operationId": "metrics",
        "responses": {"200": {"description": "Text exposition format.",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    "/openapi.json": {"get": {
        "summary": "This document", "operationId": "openapi",
        "responses": {"200": {"description": "OpenAPI 3.1.",
                              "content": {"application/json": {"schema": {"type": "object"}}}}}}},
}

SCHEMAS = {
    "Problem": {"type": "object", "required": ["type", "title", "status", "detail"],
                "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                               "status": {"type": "integer"}, "detail": {"type": "string"},
                               "instance": {"type": "string"}}},
    "DocumentList": {"type": "object", "required": ["user_id", "documents", "kinds", "formats"], "properties": {
        "user_id": {"type": "string"}, "as_of": {"type": ["string", "null"]},
        "kinds": {"type": "array", "items": {"enum": list(KINDS)}},
        "formats": {"type": "array", "items": {"enum": list(FORMATS)}},
        "note": {"type": "string"},
        "documents": {"type": "array", "items": {"type": "object", "required": ["name", "kind", "format", "url"],
                                                 "properties": {
            "name": {"type": "string"}, "kind": {"enum": list(KINDS)}, "format": {"enum": list(FORMATS)},
            "title": {"type": "string"}, "media_type": {"type": "string"}, "bytes": {"type": "integer"},
            "generated_at": {"type": ["string", "null"]}, "url": {"type": "string"}}}}}},
    "JsonRpcMessage": {
        "description": "One JSON-RPC 2.0 message: a request (id and method), a notification (method, no id) "
                       "or a response (id with result or error). Batches are refused.",
        "type": "object", "properties": {
            "jsonrpc": {"const": "2.0"}, "id": {"type": ["string", "integer"]}, "method": {"type": "string"},
            "params": {"type": "object"}, "result": {}, "error": {}},
        "anyOf": [{"required": ["jsonrpc", "method"]}, {"required": ["jsonrpc", "id", "result"]},
                  {"required": ["jsonrpc", "id", "error"]}]},
    "JsonRpcResponse": {"type": "object", "required": ["jsonrpc", "id"], "properties": {
        "jsonrpc": {"const": "2.0"}, "id": {"type": ["string", "integer", "null"]}, "result": {"type": "object"},
        "error": {"type": "object", "required": ["code", "message"],
                  "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": {}}}}},
    "Command": {"type": "object", "required": ["id", "action", "status", "attempts", "status_url"], "properties": {
        "id": {"type": "string"}, "action": {"type": "string"},
        "status": {"enum": ["queued", "delivering", "delivered", "running", "succeeded", "failed",
                            "awaiting_approval", "declined", "expired"]},
        "attempts": {"type": "integer"},
        "created_at": {"type": "string"}, "updated_at": {"type": "string"}, "status_url": {"type": "string"},
        "result": {}, "error": {"type": "string"}, "last_error": {"type": "string"},
        "next_attempt_at": {"type": "string"}, "result_due_by": {"type": "string"}, "replayed": {"type": "boolean"},
        "approval_expires_at": {"type": "string", "description": "awaiting_approval: when it expires unanswered."},
        "decided_at": {"type": "string", "description": "When the studio owner approved or declined it."},
        "note": {"type": "string", "description": "For awaiting_approval, declined and expired: a sentence an agent "
                                                  "can relay."}}},
    "CommandResult": {"type": "object", "additionalProperties": False, "properties": {
        "id": {"type": "string"}, "user_id": {"type": "string"}, "status": {"enum": ["succeeded", "failed"]},
        "result": {}, "error": {"type": "string"}},
        "anyOf": [{"required": ["status"]}, {"required": ["error"]}]},
    "Health": {"type": "object", "required": ["status", "checks"], "properties": {
        "status": {"enum": ["ok", "degraded", "failing"]}, "version": {"type": "string"},
        "checks": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["status"],
            "properties": {"status": {"enum": ["ok", "failing", "unknown"]}, "ms": {"type": "number"},
                           "error": {"type": "string"}, "cause": {"type": "string"}, "since": {"type": "string"},
                           "failures": {"type": "integer"}, "last_delivered_at": {"type": ["string", "null"]},
                           "detail": {"type": "string"}}}}}},
    "NangoWebhook": NANGO_WEBHOOK,
    "OAuthError": {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string"}, "error_description": {"type": "string"}, "error_uri": {"type": "string"}}},
    "ProtectedResource": {"type": "object", "required": ["resource", "authorization_servers"], "properties": {
        "resource": {"type": "string"}, "authorization_servers": {"type": "array", "items": {"type": "string"}},
        "scopes_supported": {"type": "array", "items": {"type": "string"}},
        "bearer_methods_supported": {"type": "array", "items": {"const": "header"}}}},
    "AuthorizationServer": {"type": "object", "required": ["issuer", "authorization_endpoint", "token_endpoint",
                                                           "code_challenge_methods_supported"],
                            "properties": {"issuer": {"type": "string"},
                                           "code_challenge_methods_supported": {"const": ["S256"]}}},
    "ClientMetadata": {"type": "object", "required": ["redirect_uris"], "properties": {
        "redirect_uris": {"type": "array", "items": {"type": "string"}}, "client_name": {"type": "string"},
        "token_endpoint_auth_method": {"enum": ["none", "client_secret_basic", "client_secret_post"]},
        "grant_types": {"type": "array", "items": {"enum": ["authorization_code", "refresh_token"]}},
        "response_types": {"type": "array", "items": {"const": "code"}}, "client_uri": {"type": "string"}}},
    "RegisteredClient": {"type": "object", "required": ["client_id", "redirect_uris"], "properties": {
        "client_id": {"type": "string"}, "client_secret": {"type": "string"},
        "client_id_issued_at": {"type": "integer"}, "client_secret_expires_at": {"type": "integer"},
        "redirect_uris": {"type": "array", "items": {"type": "string"}}}},
    "TokenRequest": {"type": "object", "required": ["grant_type"], "properties": {
        "grant_type": {"enum": ["authorization_code", "refresh_token"]}, "code": {"type": "string"},
        "redirect_uri": {"type": "string"}, "code_verifier": {"type": "string"}, "refresh_token": {"type": "string"},
        "client_id": {"type": "string"}, "client_secret": {"type": "string"}, "resource": {"type": "string"},
        "scope": {"type": "string"}}},
    "TokenResponse": {"type": "object", "required": ["access_token", "token_type", "expires_in", "refresh_token",
                                                     "scope"], "properties": {
        "access_token": {"type": "string"}, "token_type": {"const": "Bearer"}, "expires_in": {"type": "integer"},
        "refresh_token": {"type": "string"}, "scope": {"type": "string"}}},
    "RevocationRequest": {"type": "object", "required": ["token"], "properties": {
        "token": {"type": "string"}, "token_type_hint": {"type": "string"}, "client_id": {"type": "string"},
        "client_secret": {"type": "string"}}},
    "NangoWebhookReceipt": {"type": "object", "required": ["outcome", "reason"], "properties": {
        "outcome": {"enum": ["recorded", "unchanged", "duplicate", "ignored"]}, "reason": {"type": "string"},
        "event_id": {"type": "integer", "description": "The connection event recorded, when one was."}}},
}


def oauth_scheme(server_url: str) -> dict:
    return {"type": "oauth2", "description": "Sign in as the studio owner (OAuth 2.1, PKCE S256); for /mcp only.",
            "flows": {"authorizationCode": {"authorizationUrl": server_url + "/oauth/authorize",
                                            "tokenUrl": server_url + "/oauth/token",
                                            "refreshUrl": server_url + "/oauth/token",
                                            "scopes": {"context:read": "Read the context documents",
                                                       "commands:write": "Send commands"}}}}


def document(server_url: str, version: str) -> dict:
    return {"openapi": "3.1.0",
            "info": {"title": "Sylo API", "version": version,
                     "description": "Context documents and an MCP server for AI agents working for a studio."},
            "servers": [{"url": server_url}],
            "paths": PATHS,
            "components": {"schemas": SCHEMAS,
                           "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                          "description": "An API token from `sylo users token`."},
                                               "oauth": oauth_scheme(server_url),
                                               "oauthClientBasic": {"type": "http", "scheme": "basic",
                                                                    "description": "A confidential OAuth client's "
                                                                                   "id and secret."},
                                               "nangoSignature": NANGO_SIGNATURE}}}


@bp.get("/openapi.json")
def openapi() -> Response:
    """Describe every route."""
    response = current_app.json.response(document(public_url(), current_app.extensions["sylo"].version))
    response.headers["Cache-Control"] = "no-cache"
    return response
