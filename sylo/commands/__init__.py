"""Signed commands: the catalog, signatures, the outbox, its delivery to n8n and n8n's reported results."""

from __future__ import annotations

from datetime import timedelta

from sylo.commands.delivery import Deliverer, Forwarder, Policy, Worker
from sylo.commands.outbox import Outbox
from sylo.commands.results import ResultIntake
from sylo.commands.service import CommandService, RateLimiter, ReplayGuard, SecretCache
from sylo.keyring import Keyring
from sylo.throttle import Throttle


def build_service(settings, appdb, redis=None) -> CommandService:
    """The command path for one process, from settings."""
    outbox = Outbox(appdb.engine)
    deliverer = Deliverer(outbox, Forwarder(settings), Policy.from_settings(settings)) \
        if settings.command_wait_seconds > 0 else None
    return CommandService(outbox, SecretCache(appdb.engine, Keyring.from_settings(settings)),
                          RateLimiter(settings.command_rate_limit, settings.redis_url), ReplayGuard(redis), deliverer,
                          wait_seconds=settings.command_wait_seconds,
                          failures=Throttle.per_minute("signature-failures", settings.signature_failure_limit,
                                                       settings.redis_url),
                          external_per_day=settings.external_actions_per_day,
                          approval_ttl=timedelta(hours=settings.approval_ttl_hours))


def build_worker(settings, appdb, **overrides) -> Worker:
    """`sylo worker`'s outbox worker; overrides: concurrency, poll_seconds, sweep_seconds, and Policy's fields."""
    return Worker.from_settings(settings, Outbox(appdb.engine), **overrides)


def build_results(settings, appdb) -> ResultIntake:
    """Where n8n's results of long-running commands come in."""
    secret = settings.n8n_signing_secret.get_secret_value() if settings.n8n_signing_secret else None
    return ResultIntake(Outbox(appdb.engine), secret)


__all__ = ["CommandService", "Deliverer", "Forwarder", "Outbox", "Policy", "ResultIntake", "Worker",
           "build_results", "build_service", "build_worker"]
