"""The sandbox as one WSGI app: Nango (with Gmail, Asana and Xero behind its proxy), n8n, and admin.

`Sandbox(config)` builds the sandbox's state (`sandbox.state`) and routes requests to the
handlers given it; `sandbox.serve()` puts it on a port. Everything is in memory.
"""

from __future__ import annotations

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.admin import Admin
from sandbox.connections import INTEGRATIONS
from sandbox.http import Pages, json_response, nango_error
from sandbox.nango import NangoControl, check_key
from sandbox.proxy import Proxy
from sandbox.server import ServerThread
from sandbox.state import SandboxConfig, SandboxState


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
        Rule("/_sandbox/users/<user_id>/asana/expire-sync", endpoint="admin.expire_asana_sync", methods=["POST"]),
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


class Sandbox(SandboxState):
    """The sandbox's state, served: Nango's API and proxy, the Connect page, n8n and `/_sandbox/`."""

    def __init__(self, config: SandboxConfig | None = None):
        super().__init__(config)
        self.pages = Pages()
        self.nango = NangoControl(self, self.pages)
        self.proxy = Proxy(self)
        self.admin = Admin(self)
        self.url_map = _rules()

    # -- HTTP -------------------------------------------------------------------------------------

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
        return self.pages.render("home.html", users=self.world.users(), registry=self.registry,
                                 integrations=INTEGRATIONS)

    def __call__(self, environ, start_response):
        return self.dispatch(Request(environ))(environ, start_response)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> ServerThread:
        return ServerThread(self, host, port).start()
