"""The Flask API: agents read their context documents and talk MCP here.

`create_app()` only wires: settings, the app DB, the export, blueprints, error handling and
metrics. `gunicorn 'api:create_app()'` serves it in production (see `gunicorn.conf.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from api import commands, context, dashboard, fastpath, mcp, oauth, ops, openapi, problems, sessions, webhooks
from api.bodies import refuse_nul
from api.document_store import DocumentStore
from sylo.appdb import AppDB
from sylo.files import private_dir
from sylo.keyring import Keyring
from sylo.settings import Settings

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


@dataclass
class Sylo:
    """Everything a request handler needs, built once per process."""

    settings: Settings
    appdb: AppDB
    documents: DocumentStore
    version: str

    @cached_property
    def _redis(self):
        import redis

        return redis.Redis.from_url(self.settings.redis_url, socket_timeout=2, socket_connect_timeout=2)

    def redis(self):
        return self._redis if self.settings.redis_url else None

    @cached_property
    def commands(self):
        from sylo.commands import build_service

        return build_service(self.settings, self.appdb, self.redis())

    @cached_property
    def command_results(self):
        """Where n8n reports the results of long-running commands."""
        from sylo.commands import build_results

        return build_results(self.settings, self.appdb)

    @cached_property
    def accounts(self):
        from sylo.accounts import Accounts, SignInGuard

        settings = self.settings
        return Accounts(self.appdb.engine, guard=SignInGuard(settings.login_failures_per_account,
                                                             settings.login_failures_per_address, settings.redis_url))

    @cached_property
    def oauth(self):
        """Sylo's OAuth 2.1 authorization server for /mcp (Authlib over the app DB)."""
        from api.context import public_url
        from api.oauth_server import build

        return build(self.appdb.engine, self.settings, public_url)

    @cached_property
    def oauth_registrations(self):
        """Dynamic registrations per client address per hour (RFC 7591 is open to anyone)."""
        from sylo.throttle import Throttle

        return Throttle("oauth-register", f"{self.settings.oauth_registrations_per_hour}/hour", self.settings.redis_url)

    @cached_property
    def extra_tools(self) -> list:
        """Each catalog action as an MCP tool, through the same command path."""
        from api.mcp_tools import command_tools

        return command_tools()


def create_app(settings: Settings | None = None, appdb: AppDB | None = None) -> Flask:
    """Build the API for `settings` (default: from the environment)."""
    settings = settings or Settings()
    appdb = appdb or AppDB.from_settings(settings)
    appdb.migrate()
    appdb.token_cache_seconds = settings.token_cache_seconds
    private_dir(settings.exports, tighten=True)
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder="static")
    app.config.update(MAX_CONTENT_LENGTH=2 * 1024 * 1024, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"), SESSION_COOKIE_NAME="sylo_flash")
    app.secret_key = Keyring.from_settings(settings).derive("flask-session")  # signs flash messages only
    app.session_interface = sessions.FlashSessions()
    app.json.sort_keys = False
    app.extensions["sylo"] = Sylo(settings, appdb, DocumentStore(settings.exports), _version())
    for blueprint in (context.bp, commands.bp, mcp.bp, oauth.bp, webhooks.bp, ops.bp, openapi.bp, dashboard.bp):
        app.register_blueprint(blueprint)
    app.before_request(refuse_nul)
    problems.register(app)
    ops.instrument(app)
    fastpath.install(app)  # documents for static tokens before Flask, through the same core
    if settings.trusted_proxy_hops:  # only then is X-Forwarded-For believed (api.auth.client_address)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxy_hops, x_proto=settings.trusted_proxy_hops)
    return app


def _version() -> str:
    try:
        return version("sylo")
    except PackageNotFoundError:
        return "0.0.0"
