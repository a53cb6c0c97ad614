"""Nango's control plane: key checks, connect sessions, connections and the Connect page.

Error codes, statuses and strictness follow reference/nango.md: unknown body keys and query
parameters are 400s; an unknown connection is 404 on GET but 400 `unknown_connection` on DELETE.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from werkzeug.wrappers import Request, Response

from sandbox.connections import INTEGRATIONS, Connection, ConnectSession, iso_z
from sandbox.http import Pages, json_response, nango_error

if TYPE_CHECKING:
    from sandbox.state import SandboxState

TAG_KEY = re.compile(r"^[a-zA-Z][a-zA-Z0-9_\-./]*$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LIST_PARAMS = {"connectionId", "integrationId", "search", "endUserId", "endUserOrganizationId", "limit", "page"}
# An explicit `limit` must be 1-2000; without one Nango lists up to 10 000 (reference/nango.md §3).
LIST_LIMIT_MAX, LIST_LIMIT_DEFAULT = 2_000, 10_000


def _search_matches(connection: Connection, search: str) -> bool:
    """Nango's `search` is ILIKE on the connection id and the end user's name and email only (nango.md §3)."""
    fields = [connection.connection_id, connection.tags.get("end_user_display_name", ""),
              connection.tags.get("end_user_email", "")]
    return any(search in field.lower() for field in fields)


def check_key(request: Request, secret_key: str) -> Response | None:
    """Return Nango's 401 for a missing, malformed or unknown secret key, else None."""
    header = request.headers.get("Authorization")
    if not header:
        return nango_error(401, "missing_auth_header", "Authentication failed. The request is missing the Authorization header.")
    scheme, _, key = header.partition(" ")
    if scheme != "Bearer" or not key:
        return nango_error(401, "malformed_auth_header", "Authentication failed. The provided authorization header is malformed.")
    try:
        if uuid.UUID(key).version != 4 or str(uuid.UUID(key)) != key.lower():
            raise ValueError
    except ValueError:
        return nango_error(401, "invalid_secret_key_format", "Authentication failed. The provided secret key is not a UUID v4.")
    if key.lower() != secret_key.lower():
        return nango_error(401, "unknown_account", "Authentication failed. The provided secret key is invalid.")
    return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EndUser(_Strict):
    id: str = Field(min_length=1, max_length=255)
    email: str | None = None
    display_name: str | None = Field(None, max_length=255)
    tags: dict[str, str] | None = None


class Organization(_Strict):
    id: str = Field(min_length=1, max_length=255)
    display_name: str | None = None


class SessionBody(_Strict):
    tags: dict[str, str] | None = None
    end_user: EndUser | None = None
    organization: Organization | None = None
    allowed_integrations: list[str] | None = None
    integrations_config_defaults: dict[str, dict] | None = None
    overrides: dict[str, dict] | None = None
    webhook_url_override: str | None = None


class ReconnectBody(SessionBody):
    connection_id: str
    integration_id: str
    allowed_integrations: None = None


def _invalid(code: str, errors: list[dict]) -> Response:
    return nango_error(400, code, errors=errors)


def _pydantic_errors(exc: ValidationError) -> list[dict]:
    return [{"code": e["type"], "message": e["msg"], "path": [str(p) for p in e["loc"]]} for e in exc.errors()]


def merge_tags(body: SessionBody) -> tuple[dict[str, str], list[dict]]:
    """Fold deprecated end_user/organization into tags (explicit tags win) and validate them."""
    tags: dict[str, str] = {}
    if body.end_user:
        tags["end_user_id"] = body.end_user.id
        if body.end_user.email:
            tags["end_user_email"] = body.end_user.email
        if body.end_user.display_name:
            tags["end_user_display_name"] = body.end_user.display_name
    if body.organization:
        tags["organization_id"] = body.organization.id
        if body.organization.display_name:
            tags["organization_display_name"] = body.organization.display_name
    tags.update({key.lower(): value for key, value in (body.tags or {}).items()})
    errors = []
    if len(tags) > 10:
        errors.append({"code": "too_big", "message": "At most 10 tags", "path": ["tags"]})
    for key, value in tags.items():
        if not TAG_KEY.match(key) or len(key) > 64:
            errors.append({"code": "invalid_string", "message": f"Invalid tag key {key!r}", "path": ["tags", key]})
        if not 1 <= len(value) <= 255:
            errors.append({"code": "invalid_string", "message": "Tag values are 1-255 characters", "path": ["tags", key]})
    if "end_user_email" in tags and not EMAIL.match(tags["end_user_email"]):
        errors.append({"code": "invalid_string", "message": "Invalid email", "path": ["tags", "end_user_email"]})
    return tags, errors


def webhook_override_errors(url: str | None) -> list[dict]:
    """`webhook_url_override` is an http(s) URL or "", and may not point back at Nango (nango.md §2)."""
    if not url:
        return []
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return [{"code": "invalid_string", "message": "Invalid url", "path": ["webhook_url_override"]}]
    if host == "nango.dev" or host.endswith(".nango.dev"):
        return [{"code": "custom", "message": "Webhook URL cannot point to Nango", "path": ["webhook_url_override"]}]
    return []


class NangoControl:
    """Handlers for Nango's non-proxy routes."""

    def __init__(self, state: SandboxState, pages: Pages):
        self.state = state
        self.registry = state.registry
        self.pages = pages

    # -- connect sessions --------------------------------------------------------------------

    def post_session(self, request: Request) -> Response:
        if request.query_string:
            return _invalid("invalid_query_params", [{"code": "unrecognized_keys", "message": "No query parameters allowed", "path": []}])
        parsed = self._body(request, SessionBody)
        if isinstance(parsed, Response):
            return parsed
        if parsed.tags is None and parsed.end_user is None:
            return _invalid("invalid_body", [{"code": "invalid_type", "message": "Required", "path": ["end_user"]}])
        tags, errors = merge_tags(parsed)
        unknown = [i for i in parsed.allowed_integrations or [] if i not in INTEGRATIONS]
        errors += [{"code": "custom", "message": f"Integration {i!r} does not exist", "path": ["allowed_integrations"]}
                   for i in unknown]
        errors += webhook_override_errors(parsed.webhook_url_override)
        if errors:
            return _invalid("invalid_body", errors)
        session = self.registry.new_session(tags, parsed.allowed_integrations,
                                            webhook_url_override=parsed.webhook_url_override)
        return self._session_created(request, session)

    def post_reconnect(self, request: Request) -> Response:
        parsed = self._body(request, ReconnectBody)
        if isinstance(parsed, Response):
            return parsed
        tags, errors = merge_tags(parsed)
        errors += webhook_override_errors(parsed.webhook_url_override)
        if errors:
            return _invalid("invalid_body", errors)
        connection = self.registry.find(parsed.connection_id, parsed.integration_id)
        if connection is None:
            return nango_error(400, "invalid_body", f"Connection {parsed.connection_id} not found",
                               errors=[{"code": "custom", "message": "Unknown connection", "path": ["connection_id"]}])
        session = self.registry.new_session(tags or connection.tags, None, (connection.connection_id, connection.integration),
                                            parsed.webhook_url_override)
        return self._session_created(request, session)

    def _session_created(self, request: Request, session: ConnectSession) -> Response:
        link = f"{request.host_url}connect/?session_token={session.token}"
        expires = iso_z(int(session.expires_at * 1000))
        return json_response({"data": {"token": session.token, "connect_link": link, "expires_at": expires}}, 201)

    def _body(self, request: Request, model: type[BaseModel]) -> BaseModel | Response:
        try:
            return model.model_validate_json(request.get_data() or b"{}")
        except ValidationError as exc:
            return _invalid("invalid_body", _pydantic_errors(exc))

    def session_info(self, request: Request) -> Response:
        """`GET/DELETE /connect/session`, authenticated by the session token itself."""
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        session = self.registry.session(token)
        if session is None:
            return nango_error(401, "unknown_connect_session_token", "The connect session token is invalid or expired.")
        if request.method == "DELETE":
            with self.registry.lock:
                self.registry.sessions.pop(token, None)
            return Response(status=204)
        return json_response({"data": {"allowed_integrations": session.integrations(),
                                       "tags": session.tags, "expires_at": iso_z(int(session.expires_at * 1000))}})

    # -- connections ---------------------------------------------------------------------------

    def list_connections(self, request: Request) -> Response:
        args = request.args
        unknown = [k for k in args if k not in LIST_PARAMS and not re.fullmatch(r"tags\[[^\]]+\]", k)]
        if unknown:
            return _invalid("invalid_query_params", [{"code": "unrecognized_keys", "message": f"Unrecognized key(s): {', '.join(unknown)}", "path": []}])
        try:
            limit = int(args.get("limit", LIST_LIMIT_DEFAULT))
            page = int(args.get("page", 0))
            if not (1 <= limit <= LIST_LIMIT_MAX or "limit" not in args) or page < 0:
                raise ValueError
        except ValueError:
            return _invalid("invalid_query_params", [{"code": "invalid_type", "message": "limit 1-2000, page >= 0", "path": ["limit"]}])
        tags = {k[5:-1].lower(): v for k, v in args.items() if k.startswith("tags[")}
        if args.get("endUserId"):
            tags["end_user_id"] = args["endUserId"]
        if args.get("endUserOrganizationId"):
            tags["organization_id"] = args["endUserOrganizationId"]
        integrations = set(args["integrationId"].split(",")) if args.get("integrationId") else None
        search = args.get("search", "").lower()
        matches = [c for c in self.registry.listing()
                   if all(c.tags.get(k) == v for k, v in tags.items())
                   and (integrations is None or c.integration in integrations)
                   and (not args.get("connectionId") or c.connection_id == args["connectionId"])
                   and (not search or _search_matches(c, search))]
        page_items = matches[page * limit:(page + 1) * limit]
        return json_response({"connections": [c.summary_json() for c in page_items]})

    def get_connection(self, request: Request, connection_id: str) -> Response:
        key = request.args.get("provider_config_key")
        extra = set(request.args) - {"provider_config_key", "refresh_token", "force_refresh", "refresh_github_app_jwt_token"}
        if extra or not key:
            return _invalid("invalid_query_params", [{"code": "invalid_type", "message": "provider_config_key is required", "path": ["provider_config_key"]}])
        flags = {}
        for flag in ("refresh_token", "force_refresh"):
            value = request.args.get(flag, "false")
            if value not in ("true", "false"):
                return _invalid("invalid_query_params", [{"code": "invalid_enum_value", "message": "Expected 'true' | 'false'", "path": [flag]}])
            flags[flag] = value == "true"
        if key not in INTEGRATIONS:
            return nango_error(400, "unknown_provider_config", f"Provider config {key} not found")
        connection = self.registry.find(connection_id, key)
        if connection is None:
            return nango_error(404, "not_found", f"No connection found with id {connection_id} for {key}")
        if connection.errors:
            return nango_error(400, "invalid_credentials", "The refresh token is invalid or revoked (invalid_grant)",
                               payload={"connection": connection.summary_json()})
        if flags["force_refresh"]:
            connection.refreshes += 1
        return json_response(connection.full_json(with_refresh_token=flags["refresh_token"]))

    def delete_connection(self, request: Request, connection_id: str) -> Response:
        key = request.args.get("provider_config_key")
        if not key:
            return _invalid("invalid_query_params", [{"code": "invalid_type", "message": "Required", "path": ["provider_config_key"]}])
        connection = self.registry.find(connection_id, key)
        if connection is None:
            return nango_error(400, "unknown_connection", f"Connection {connection_id} not found")
        self.registry.remove(connection)
        self.state.webhooks.auth_event(connection, "deletion", success=True)
        return json_response({"success": True})

    # -- the Connect page ----------------------------------------------------------------------

    def connect_page(self, request: Request) -> Response:
        session = self.registry.session(request.args.get("session_token", ""))
        if session is None:
            return self.pages.render("connect_error.html", 401, message="This connect link is invalid or has expired.")
        integrations = [{"key": key, **INTEGRATIONS[key]} for key in session.integrations()]
        return self.pages.render("connect.html", token=session.token, integrations=integrations,
                                   reconnect=session.reconnect is not None)

    def complete(self, request: Request) -> Response:
        """Finish (or refuse) the OAuth dance for one integration of a session."""
        form = request.form if request.form else (request.get_json(silent=True) or {})
        session = self.registry.session(form.get("session_token", ""))
        integration = form.get("integration", "")
        wants_json = request.accept_mimetypes.best == "application/json" or request.is_json
        if session is None or integration not in session.integrations():
            message = "This connect link is invalid or has expired." if session is None else "That integration is not offered here."
            if wants_json:
                return nango_error(400, "invalid_connect_session", message)
            return self.pages.render("connect_error.html", 400, message=message)
        if form.get("decision", "allow") != "allow":
            event = {"type": "error", "payload": {"errorType": "connection_test_failed", "errorMessage": "The user refused access."}}
            if wants_json:
                return json_response(event, 400)
            return self.pages.render("connected.html", event=event, integration=INTEGRATIONS[integration])
        connection = self._finish(session, integration)
        event = {"type": "connect", "payload": {"providerConfigKey": integration, "connectionId": connection.connection_id}}
        if wants_json:
            return json_response(event, 200)
        return self.pages.render("connected.html", event=event, integration=INTEGRATIONS[integration])

    def _finish(self, session: ConnectSession, integration: str) -> Connection:
        if session.reconnect:
            connection = self.registry.find(*session.reconnect)
            if connection is not None:
                if session.webhook_url_override is not None:
                    connection.webhook_url_override = session.webhook_url_override or None
                connection.errors.clear()
                connection.refreshes += 1
                connection.updated_ms = self.state.world.clock_ms
                self.state.webhooks.auth_event(connection, "override", success=True)
                return connection
        connection = self.state.connect(integration, session.tags, from_session=True)
        connection.webhook_url_override = session.webhook_url_override or None
        self.state.webhooks.auth_event(connection, "creation", success=True)
        return connection
