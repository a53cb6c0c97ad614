"""Nango's records: integrations, connections and connect sessions (reference/nango.md §2–3).

Timestamps follow Nango's quirks: the list endpoint prints `...000Z`, the single-connection
endpoint `...000+00:00`. Connection ids are UUIDs; the integer `id` is Nango's row id.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from sandbox.ids import det_uuid, token_hex
from sylo.services import SERVICES

if TYPE_CHECKING:
    from sandbox.world import UserWorld

# The integrations a studio configures in Nango, with the ids Sylo expects (sylo/services.py).
INTEGRATIONS: dict[str, dict[str, str]] = {
    s.integration: {"provider": s.integration, "service": s.name, "display": s.display_name} for s in SERVICES}
SESSION_TTL_S = 30 * 60


def iso_z(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def iso_offset(ms: int) -> str:
    return iso_z(ms)[:-1] + "+00:00"


@dataclass
class Connection:
    id: int
    connection_id: str
    integration: str
    account: str  # whose studio data this connection reaches (the end-user id)
    tags: dict[str, str]
    created_ms: int
    connection_config: dict = field(default_factory=dict)
    metadata: dict | None = None
    errors: list[dict] = field(default_factory=list)
    from_session: bool = False
    updated_ms: int = 0
    refreshes: int = 0
    webhook_url_override: str | None = None  # this connection's webhooks go only there (nango.md §2)

    @property
    def provider(self) -> str:
        return INTEGRATIONS[self.integration]["provider"]

    @property
    def service(self) -> str:
        return INTEGRATIONS[self.integration]["service"]

    def end_user(self) -> dict | None:
        if not self.from_session or "end_user_id" not in self.tags:
            return None
        return {"id": self.tags["end_user_id"], "email": self.tags.get("end_user_email"),
                "display_name": self.tags.get("end_user_display_name"), "tags": {}}

    def summary_json(self) -> dict:
        return {"id": self.id, "connection_id": self.connection_id, "provider": self.provider,
                "provider_config_key": self.integration, "created": iso_z(self.created_ms),
                "metadata": self.metadata, "tags": dict(self.tags), "errors": list(self.errors),
                "end_user": self.end_user()}

    def access_token(self) -> str:
        prefix = {"gmail": "ya29.a0", "asana": "2/", "xero": "eyJhbGciOiJSUzI1NiJ9."}[self.service]
        return prefix + token_hex(24, "token", self.connection_id, self.refreshes)

    def full_json(self, *, with_refresh_token: bool) -> dict:
        now_ms = int(time.time() * 1000)
        expires = iso_z(now_ms - now_ms % 1_800_000 + 1_800_000)
        token = self.access_token()
        credentials = {"type": "OAUTH2", "access_token": token, "expires_at": expires,
                       "raw": {"access_token": token, "token_type": "Bearer", "expires_in": 1800,
                               "scope": "default"}}
        if with_refresh_token:
            credentials["refresh_token"] = token_hex(32, "refresh", self.connection_id)
        return {"id": self.id, "connection_id": self.connection_id, "provider_config_key": self.integration,
                "provider": self.provider, "errors": list(self.errors), "end_user": self.end_user(),
                "tags": dict(self.tags), "metadata": self.metadata, "connection_config": dict(self.connection_config),
                "webhook_url_override": self.webhook_url_override, "created_at": iso_offset(self.created_ms),
                "updated_at": iso_offset(self.updated_ms or self.created_ms),
                "last_fetched_at": iso_offset(now_ms), "credentials": credentials}


@dataclass
class ConnectSession:
    token: str
    tags: dict[str, str]
    allowed_integrations: list[str] | None
    expires_at: float  # wall-clock seconds
    reconnect: tuple[str, str] | None = None  # (connection_id, integration)
    webhook_url_override: str | None = None  # None: not given; "": back to the environment's URL

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at

    def integrations(self) -> list[str]:
        if self.reconnect:
            return [self.reconnect[1]]
        return self.allowed_integrations or list(INTEGRATIONS)


class Registry:
    """Connections and sessions, keyed the way Nango looks them up."""

    def __init__(self, seed: int):
        self.seed = seed
        self.lock = threading.RLock()
        self.connections: list[Connection] = []
        self.sessions: dict[str, ConnectSession] = {}
        self._created = 0

    def create(self, integration: str, account: str, tags: dict[str, str], created_ms: int,
               connection_config: dict, *, from_session: bool = False) -> Connection:
        with self.lock:
            self._created += 1
            connection_id = det_uuid(self.seed, "connection", account, integration, self._created)
            connection = Connection(self._created, connection_id, integration, account, dict(tags), created_ms,
                                    connection_config, from_session=from_session, updated_ms=created_ms)
            self.connections.append(connection)
            return connection

    def find(self, connection_id: str, integration: str | None = None) -> Connection | None:
        with self.lock:
            for connection in self.connections:
                if connection.connection_id == connection_id and integration in (None, connection.integration):
                    return connection
            return None

    def remove(self, connection: Connection) -> None:
        with self.lock:
            self.connections.remove(connection)

    def listing(self) -> list[Connection]:
        """Every connection, newest first (created_at DESC, id DESC)."""
        with self.lock:
            return sorted(self.connections, key=lambda c: (c.created_ms, c.id), reverse=True)

    def new_session(self, tags: dict[str, str], allowed: list[str] | None,
                    reconnect: tuple[str, str] | None = None, webhook_url_override: str | None = None) -> ConnectSession:
        session = ConnectSession("nango_connect_session_" + secrets.token_hex(32), tags, allowed,
                                 time.time() + SESSION_TTL_S, reconnect, webhook_url_override)
        with self.lock:
            self.sessions[session.token] = session
        return session

    def session(self, token: str) -> ConnectSession | None:
        with self.lock:
            session = self.sessions.get(token)
        return session if session and not session.expired else None


def email_hash(email: str) -> str:
    return hashlib.sha256(email.lower().encode()).hexdigest()


def connection_config(integration: str, account: UserWorld) -> dict:
    """What Nango's post-connection hooks store (Xero tenant id, Gmail address hash)."""
    if integration == "xero":
        return {"tenant_id": account.org.tenant_id}
    if integration == "google-mail":
        return {"emailAddressHash": email_hash(account.mailbox.email)}
    return {}
