"""The sandbox as one WSGI app: Nango (with Gmail, Asana and Xero behind its proxy), n8n, and admin.

`Sandbox(config)` builds the world and its N initial users, each connected to all three
integrations; `sandbox.serve()` puts it on a port. Everything is in memory.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.admin import Admin
from sandbox.connections import INTEGRATIONS, Connection, Registry
from sandbox.faults import FaultConfig, Faults
from sandbox.http import json_response, nango_error
from sandbox.limits import LimitConfig, Limits
from sandbox.n8n import N8n
from sandbox.nango import NangoControl, check_key, connection_config
from sandbox.proxy import Proxy
from sandbox.server import ServerThread
from sandbox.webhooks import WebhookSender
from sandbox.world import World

log = logging.getLogger("sandbox")
TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "sandbox"
DAY_MS = 86_400_000


def today_utc() -> datetime:
    now = datetime.now(timezone.utc)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


class SandboxConfig(BaseModel):
    seed: int = 1
    users: int = Field(3, ge=0)
    now: datetime = Field(default_factory=today_utc)
    scale: float = Field(1.0, gt=0)
    secret_key: str = Field(default_factory=lambda: str(uuid.uuid4()))
    webhook_key: str = Field(default_factory=lambda: str(uuid.uuid4()))
    webhook_url: str | None = None
    n8n_auth_header: str = "X-Sylo-Auth"
    n8n_auth_value: str | None = None
    n8n_signing_secret: str | None = None
    limits: LimitConfig = Field(default_factory=LimitConfig)
    faults: FaultConfig = Field(default_factory=FaultConfig)
    nango_retry_scale: float = Field(1.0, ge=0, description="Scales Nango's server-side retry waits (tests)")
    webhook_backoff_scale: float = Field(1.0, ge=0, description="Scales webhook retry waits (tests)")
    environment: str = "dev"


def _rules() -> Map:
    nango = [
        Rule("/connect/sessions", endpoint="nango.post_session", methods=["POST"]),
        Rule("/connect/sessions/reconnect", endpoint="nango.post_reconnect", methods=["POST"]),
        Rule("/connections", endpoint="nango.list_connections", methods=["GET"]),
        Rule("/connection", endpoint="nango.list_connections", methods=["GET"]),
        Rule("/connections/<connection_id>", endpoint="nango.get_connection", methods=["GET"]),
        Rule("/connection/<connection_id>", endpoint="nango.get_connection", methods=["GET"]),
        Rule("/connections/<connection_id>", endpoint="nango.delete_connection", methods=["DELETE"]),
        Rule("/connection/<connection_id>", endpoint="nango.delete_connection", methods=["DELETE"]),
        Rule("/proxy/<path:_rest>", endpoint="proxy"),
    ]
    public = [
        Rule("/connect/session", endpoint="public.session_info", methods=["GET", "DELETE"]),
        Rule("/connect/", endpoint="public.connect_page", methods=["GET"]),
        Rule("/connect/complete", endpoint="public.complete", methods=["POST"]),
        Rule("/webhook/<path:path>", endpoint="n8n"),
        Rule("/", endpoint="public.home", methods=["GET"]),
    ]
    admin = [
        Rule("/_sandbox", endpoint="admin.info", methods=["GET"]),
        Rule("/_sandbox/changes", endpoint="admin.changes", methods=["POST"]),
        Rule("/_sandbox/users", endpoint="admin.add_user", methods=["POST"]),
        Rule("/_sandbox/users/<user_id>/truth", endpoint="admin.truth", methods=["GET"]),
        Rule("/_sandbox/users/<user_id>/gmail/expire-history", endpoint="admin.expire_history", methods=["POST"]),
        Rule("/_sandbox/users/<user_id>/xero/day-remaining", endpoint="admin.xero_day_remaining", methods=["PUT"]),
        Rule("/_sandbox/faults", endpoint="admin.faults", methods=["GET", "PUT"]),
        Rule("/_sandbox/limits", endpoint="admin.limits", methods=["GET", "PUT"]),
        Rule("/_sandbox/webhooks", endpoint="admin.webhooks", methods=["GET", "PUT"]),
        Rule("/_sandbox/connections/<connection_id>/break", endpoint="admin.break_connection", methods=["POST"]),
        Rule("/_sandbox/n8n", endpoint="admin.n8n_instance", methods=["GET", "PUT"]),
        Rule("/_sandbox/n8n/restart", endpoint="admin.n8n_restart", methods=["POST"]),
        Rule("/_sandbox/n8n/callbacks", endpoint="admin.n8n_callbacks", methods=["GET", "POST"]),
        Rule("/_sandbox/n8n/calls", endpoint="admin.n8n_calls", methods=["GET", "DELETE"]),
        Rule("/_sandbox/n8n/workflows/<path:path>", endpoint="admin.n8n_workflow", methods=["PUT", "DELETE"]),
    ]
    return Map(nango + public + admin, strict_slashes=False, merge_slashes=False)


class Sandbox:
    def __init__(self, config: SandboxConfig | None = None):
        self.config = config or SandboxConfig()
        self.world = World(self.config.seed, self.config.now, self.config.scale)
        self.registry = Registry(self.config.seed)
        self.limits = Limits(self.config.limits)
        self.faults = Faults(self.config.faults)
        self.webhooks = WebhookSender(self.config.webhook_url, self.config.webhook_key,
                                      environment=self.config.environment,
                                      backoff_scale=self.config.webhook_backoff_scale)
        self.n8n = N8n(self.config.n8n_auth_header, self.config.n8n_auth_value, self.config.n8n_signing_secret)
        self.nango = NangoControl(self)
        self.proxy = Proxy(self)
        self.admin = Admin(self)
        self.url_map = _rules()
        self.jinja = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())
        for user_id in self.world.initial_user_ids(self.config.users):
            self.add_user(user_id)

    # -- world ------------------------------------------------------------------------------------

    def add_user(self, user_id: str, integrations: list[str] | None = None) -> list[Connection]:
        """Create an end user already connected to the given integrations (default: all three)."""
        return [self.connect(integration, {"end_user_id": user_id})
                for integration in integrations or list(INTEGRATIONS)]

    def connect(self, integration: str, tags: dict[str, str], *, from_session: bool = False) -> Connection:
        """Create a connection reaching the studio of the tags' end user (or a fresh one)."""
        account = tags.get("end_user_id") or f"acct_{uuid.uuid4().hex[:10]}"
        user = self.world.user(account)
        with self.registry.lock:
            created = self.world.start_ms - 14 * DAY_MS + len(self.registry.connections) * 60_000
            if from_session:
                created = max(created, self.world.clock_ms)
            return self.registry.create(integration, account, tags, created,
                                        connection_config(integration, user), from_session=from_session)

    # -- HTTP -------------------------------------------------------------------------------------

    def render(self, template: str, status: int = 200, **context) -> Response:
        html = self.jinja.get_template(template).render(**context)
        return Response(html, status=status, content_type="text/html; charset=utf-8")

    def dispatch(self, request: Request) -> Response:
        try:
            endpoint, values = self.url_map.bind_to_environ(request.environ).match()
        except NotFound:
            return nango_error(404, "not_found", f"Route {request.method} {request.path} does not exist")
        except MethodNotAllowed:
            return nango_error(405, "method_not_allowed", f"{request.method} is not allowed on {request.path}")
        except HTTPException as exc:  # e.g. a redirect for a missing trailing slash
            return exc.get_response(request.environ)
        area, _, name = endpoint.partition(".")
        if area == "admin":
            return getattr(self.admin, name)(request, **values)
        if area == "public":
            return self.home(request) if name == "home" else getattr(self.nango, name)(request, **values)
        if area == "n8n":
            return self.n8n.handle(request, values["path"])
        return self._nango_authenticated(request, endpoint, values)

    def _nango_authenticated(self, request: Request, endpoint: str, values: dict) -> Response:
        refused = check_key(request, self.config.secret_key)
        if refused is not None:
            return refused
        verdict, headers = self.limits.nango("account")
        if verdict.retry_after is not None:
            response = json_response({"error": {"code": "too_many_request", "method": request.method,
                                                "path": request.path}}, 429, {"Retry-After": str(verdict.seconds)})
        elif endpoint == "proxy":
            response = self.proxy.handle(request)
        else:
            response = getattr(self.nango, endpoint.partition(".")[2])(request, **values)
        response.headers.update(headers)
        return response

    def home(self, request: Request) -> Response:
        return self.render("home.html", users=self.world.users(), registry=self.registry,
                           integrations=INTEGRATIONS)

    def __call__(self, environ, start_response):
        return self.dispatch(Request(environ))(environ, start_response)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> ServerThread:
        return ServerThread(self, host, port).start()

    def close(self) -> None:
        self.webhooks.close()
        self.n8n.close()
