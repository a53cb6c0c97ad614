"""Forwarding commands to n8n, and the worker that drains the outbox.

Each request is signed with Standard Webhooks under the deployment's n8n secret and carries the
Header Auth value n8n's credential checks. `webhook-id` (and `Idempotency-Key`) is the command id,
the same on every retry, so a workflow can drop a duplicate if a response was lost on the way
back. n8n's 4xx are final (a workflow that is not active, wrong auth, a rejected payload); 5xx,
429, timeouts and refused connections are retried with exponential backoff and jitter until the
command is older than `command_max_age_hours`.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from sylo.commands.outbox import Command, Outbox, now
from sylo.commands.signing import sign

log = logging.getLogger(__name__)
DEFAULT_PATH = "/webhook/sylo-commands"
MAX_BACKOFF_SECONDS = 300.0


@dataclass(frozen=True)
class Outcome:
    kind: str  # delivered | failed | retry
    status: int | None = None
    result: Any = None
    reason: str | None = None
    retry_after: float | None = None


class Forwarder:
    """Sends one command to its n8n webhook and classifies the answer."""

    def __init__(self, settings, client: httpx.Client | None = None):
        self.settings = settings
        self.client = client or httpx.Client(timeout=httpx.Timeout(settings.n8n_timeout_seconds, connect=5.0),
                                             limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))

    def url_for(self, action: str) -> str:
        route = self.settings.n8n_routes.get(action, DEFAULT_PATH)
        if route.startswith(("http://", "https://")):
            return route
        if not self.settings.n8n_url:
            raise LookupError("SYLO_N8N_URL is not set, so there is nowhere to forward commands")
        return self.settings.n8n_url.rstrip("/") + "/" + route.lstrip("/")

    def body(self, command: Command) -> bytes:
        return json.dumps({"id": command.id, "action": command.action, "params": command.params,
                           "user_id": command.user_id, "source": command.source, "attempt": command.attempts,
                           "created_at": command.created_at.isoformat()}, separators=(",", ":")).encode()

    def headers(self, command: Command, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Idempotency-Key": command.id,
                   "User-Agent": "sylo-outbox/1"}
        if self.settings.n8n_auth_value is not None:
            headers[self.settings.n8n_auth_header] = self.settings.n8n_auth_value.get_secret_value()
        if self.settings.n8n_signing_secret is not None:
            headers.update(sign(self.settings.n8n_signing_secret.get_secret_value(), command.id, body))
        return headers

    def send(self, command: Command) -> Outcome:
        try:
            url = self.url_for(command.action)
        except LookupError as error:
            return Outcome("retry", reason=str(error))
        body = self.body(command)
        try:
            response = self.client.post(url, content=body, headers=self.headers(command, body))
        except httpx.TimeoutException:
            return Outcome("retry", reason=f"n8n did not answer within {self.settings.n8n_timeout_seconds:g} s")
        except httpx.TransportError as error:
            return Outcome("retry", reason=f"could not reach n8n: {type(error).__name__}")
        return classify(response)


def classify(response: httpx.Response) -> Outcome:
    status = response.status_code
    if 200 <= status < 300:
        return Outcome("delivered", status, _payload(response))
    detail = _detail(response)
    if status == 429 or status >= 500:
        retry_after = response.headers.get("Retry-After", "")
        return Outcome("retry", status, reason=f"n8n answered {status}: {detail}",
                       retry_after=float(retry_after) if retry_after.isdigit() else None)
    return Outcome("failed", status, reason=f"n8n refused it ({status}): {detail}")


def settle(outbox: Outbox, command: Command, outcome: Outcome, max_age: timedelta) -> str:
    """Record an outcome; a retry past the command's maximum age becomes a failure. Returns the status."""
    if outcome.kind == "delivered":
        outbox.delivered(command, outcome.status, outcome.result)
        return "delivered"
    if outcome.kind == "failed":
        outbox.failed(command, outcome.reason, outcome.status)
        return "failed"
    delay = backoff(command.attempts, outcome.retry_after)
    if now() + timedelta(seconds=delay) > command.created_at + max_age:
        outbox.failed(command, f"gave up after {command.attempts} attempts over {max_age}: {outcome.reason}",
                      outcome.status)
        return "failed"
    outbox.retry_later(command, outcome.reason, now() + timedelta(seconds=delay), outcome.status)
    return "queued"


def backoff(attempts: int, retry_after: float | None = None) -> float:
    """0.5 s, 1 s, 2 s ... capped at 5 minutes, with full jitter on the upper half; Retry-After wins."""
    if retry_after is not None:
        return min(max(retry_after, 0.5), MAX_BACKOFF_SECONDS)
    ceiling = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** max(attempts - 1, 0))
    return ceiling / 2 + random.random() * ceiling / 2


class Worker:
    """Drains the outbox: claims due commands, delivers them in parallel, records each outcome."""

    def __init__(self, outbox: Outbox, forwarder: Forwarder, *, concurrency: int, max_age: timedelta,
                 lease: timedelta, poll_seconds: float = 0.2):
        self.outbox, self.forwarder = outbox, forwarder
        self.concurrency, self.max_age, self.lease, self.poll_seconds = concurrency, max_age, lease, poll_seconds
        self.stopping = threading.Event()
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="outbox")

    @classmethod
    def from_settings(cls, settings, outbox: Outbox, **overrides) -> "Worker":
        options = dict(concurrency=settings.worker_concurrency,
                       max_age=timedelta(hours=settings.command_max_age_hours),
                       lease=timedelta(seconds=settings.n8n_timeout_seconds + 30))
        return cls(outbox, Forwarder(settings), **{**options, **overrides})

    def deliver(self, command: Command) -> str:
        try:
            outcome = self.forwarder.send(command)
        except Exception as error:  # a bug must not strand the command: it is retried after backoff
            log.exception("delivering %s failed unexpectedly", command.id)
            outcome = Outcome("retry", reason=f"internal error: {type(error).__name__}")
        status = settle(self.outbox, command, outcome, self.max_age)
        log.info("command %s (%s) attempt %d: %s", command.id, command.action, command.attempts, status)
        return status

    def drain_once(self) -> int:
        """Deliver every command due now; returns how many were attempted."""
        attempted = 0
        while not self.stopping.is_set():
            batch = self.outbox.claim(self.concurrency * 4, self.lease)
            if not batch:
                return attempted
            list(self.pool.map(self.deliver, batch))
            attempted += len(batch)
        return attempted

    def run(self) -> None:
        log.info("outbox worker started (%d deliveries in flight at most)", self.concurrency)
        while not self.stopping.is_set():
            try:
                attempted = self.drain_once()
            except Exception:  # the database may be briefly unavailable; keep the worker alive
                log.exception("outbox poll failed; retrying")
                attempted = 0
            if not attempted:
                self.stopping.wait(self.poll_seconds)
        self.pool.shutdown(wait=True)

    def stop(self) -> None:
        self.stopping.set()


def _payload(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"text": response.text[:10_000]} if response.text else None


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
        if isinstance(body, dict):
            return str(body.get("message") or body.get("hint") or body)[:500]
    except ValueError:
        pass
    return response.text[:200] or response.reason_phrase
