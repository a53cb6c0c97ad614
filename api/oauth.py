"""OAuth 2.1 for `/mcp`: discovery documents, registration, token and revocation endpoints.

The authorization endpoint is a dashboard page (`api/dashboard/consent.py`): the studio owner
signs in and approves. Everything here is for OAuth clients (Claude, ChatGPT, mcp-remote, the MCP
SDKs): JSON in and out, no cookies, so any origin may call it (CORS `*`).

- `/.well-known/oauth-protected-resource/mcp` (RFC 9728, where `/mcp`'s 401 points) and the same
  document at `/.well-known/oauth-protected-resource` (the fallback clients probe);
- `/.well-known/oauth-authorization-server` (RFC 8414);
- `POST /oauth/register` (RFC 7591), `POST /oauth/token`, `POST /oauth/revoke` (RFC 7009).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, json, request

from api.auth import client_address
from api.bodies import BodyTooLarge, InvalidJson, parse_json, read_body
from api.context import public_url
from api.oauth_server import json_request
from sylo.oauth import scopes

bp = Blueprint("oauth", __name__)
REGISTRATION_MAX_BYTES = 16 * 1024
PROTECTED_RESOURCE_PATH = "/.well-known/oauth-protected-resource/mcp"


def _server():
    return current_app.extensions["sylo"].oauth


def resource_metadata_url() -> str:
    return public_url() + PROTECTED_RESOURCE_PATH


@bp.get("/.well-known/oauth-protected-resource")
@bp.get(PROTECTED_RESOURCE_PATH)
def protected_resource() -> Response:
    """RFC 9728: what `/mcp` is and which authorization server issues its tokens (Sylo itself)."""
    server = _server()
    return _json({"resource": server.resource, "authorization_servers": [server.issuer],
                  "scopes_supported": list(scopes.ALL), "bearer_methods_supported": ["header"],
                  "resource_name": "Sylo", "resource_documentation": public_url() + "/openapi.json"},
                 cache="public, max-age=300")


@bp.get("/.well-known/oauth-authorization-server")
def authorization_server() -> Response:
    """RFC 8414: the endpoints, and what Sylo supports (S256 only, `iss` in responses, metadata documents)."""
    return _json(_server().metadata(), cache="public, max-age=300")


@bp.post("/oauth/register")
def register() -> Response:
    """RFC 7591: a client registers its name and redirect URIs; the owner still approves it."""
    wait = current_app.extensions["sylo"].oauth_registrations.hit(client_address())
    if wait is not None:
        return _error(429, "too_many_requests", "Too many registrations from this address; try again later.",
                      {"Retry-After": str(wait)})
    try:
        data = parse_json(read_body(REGISTRATION_MAX_BYTES))
    except BodyTooLarge:
        return _error(413, "invalid_client_metadata", f"Client metadata is limited to {REGISTRATION_MAX_BYTES} bytes.")
    except InvalidJson:
        return _error(400, "invalid_client_metadata", "The body must be a JSON object of client metadata.")
    if not isinstance(data, dict):
        return _error(400, "invalid_client_metadata", "The body must be a JSON object of client metadata.")
    response = _server().create_endpoint_response("client_registration", json_request(data, request.url))
    return _no_store(response)


@bp.post("/oauth/token")
def token() -> Response:
    """Exchange a code (with its PKCE verifier) or a refresh token for tokens."""
    return _no_store(_server().create_token_response())


@bp.post("/oauth/revoke")
def revoke() -> Response:
    """RFC 7009: the client gives up a token; the whole grant ends."""
    return _no_store(_server().create_endpoint_response("revocation"))


@bp.after_request
def _cors(response: Response) -> Response:
    """No cookies are read here, so browser-based clients (the MCP Inspector) may call from any origin."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, MCP-Protocol-Version"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    return response


def _json(body: dict, status: int = 200, cache: str = "no-store", headers: dict | None = None) -> Response:
    response = Response(json.dumps(body), status=status, content_type="application/json", headers=headers)
    response.headers["Cache-Control"] = cache
    return response


def _error(status: int, error: str, description: str, headers: dict | None = None) -> Response:
    return _json({"error": error, "error_description": description}, status, headers=headers)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
