"""Signed commands: the catalog, signatures, the outbox and its delivery to n8n."""

from __future__ import annotations

from datetime import timedelta

from sylo.commands.delivery import Forwarder, Worker
from sylo.commands.outbox import Outbox
from sylo.commands.service import CommandService, RateLimiter, ReplayGuard, SecretCache
from sylo.keyring import Keyring
from sylo.throttle import Throttle


def build_service(settings, appdb, redis=None) -> CommandService:
    """The command path for one process, from settings."""
    outbox = Outbox(appdb.engine)
    forwarder = Forwarder(settings) if settings.command_wait_seconds > 0 else None
    return CommandService(outbox, SecretCache(appdb.engine, Keyring.from_settings(settings)),
                          RateLimiter(settings.command_rate_limit, settings.redis_url), ReplayGuard(redis), forwarder,
                          wait_seconds=settings.command_wait_seconds,
                          max_age=timedelta(hours=settings.command_max_age_hours),
                          lease=timedelta(seconds=settings.n8n_timeout_seconds + 30),
                          failures=Throttle.per_minute("signature-failures", settings.signature_failure_limit,
                                                       settings.redis_url))


def build_worker(settings, appdb, **overrides) -> Worker:
    return Worker.from_settings(settings, Outbox(appdb.engine), **overrides)


__all__ = ["CommandService", "Forwarder", "Outbox", "Worker", "build_service", "build_worker"]
