"""What the sandbox holds in memory, and how it is configured; no HTTP.

The world (the studios behind Gmail, Asana and Xero), Nango's connections, the providers' rate
limits, injected faults, Nango's outgoing webhooks and n8n's recorded calls. The handlers for
Nango, its proxy and `/_sandbox/` are each given this state; `sandbox.app` serves them.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from pydantic import BaseModel, Field

from sandbox.connections import INTEGRATIONS, Connection, Registry, connection_config
from sandbox.faults import FaultConfig, Faults
from sandbox.generate import DAY_MS
from sandbox.limits import LimitConfig, Limits
from sandbox.n8n import N8n
from sandbox.webhooks import WebhookSender
from sandbox.world import World


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


class SandboxState:
    """The world and its N initial users, each connected to all three integrations."""

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
        for user_id in self.world.initial_user_ids(self.config.users):
            self.add_user(user_id)

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

    def close(self) -> None:
        """Stop the webhook sender's and n8n's threads."""
        self.webhooks.close()
        self.n8n.close()
