"""Forwarding commands to n8n, reading its answers, and the worker that drains the outbox.

Each request is signed with Standard Webhooks under the deployment's n8n secret and carries the
Header Auth value n8n's credential checks. The body is UTF-8 JSON as is (no ASCII escapes), so a
workflow can verify the signature on the bytes it received. `webhook-id` (and `Idempotency-Key`)
is the command id, the same on every retry, so a workflow can drop a duplicate if a response was
lost on the way back.

What n8n's answer means (`classify`), from its source (reference/protocols.md §2):
- 2xx: delivered; `202 {"status": "running"}`: the workflow took it and reports the result later.
  n8n's own 200 "n8n is starting up. Please wait" (database still migrating) is not a workflow's answer.
- retried within `SYLO_N8N_SETUP_RETRY_MINUTES`, because n8n is not set up for the command (yet):
  the start-up answers (Express's HTML 404 "Cannot POST", 503 "Database is not ready!"), 404 "webhook
  ... is not registered" (starting, or the workflow is not active), 401/403 (the credential is wrong,
  e.g. mid-rotation) and 500 "No authentication data defined on node!" (no credential attached).
- retried until `SYLO_COMMAND_MAX_AGE_HOURS`: refused connections, timeouts, 408, 429, other 5xx.
- any other 4xx: final, the request itself is wrong (a workflow's 422 for an action it does not handle).
Retries back off exponentially with jitter; `Retry-After` wins. A worker claims only as many
commands as it sends at once, and keeps their leases alive while they are in flight.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import httpx

from sylo.backoff import exponential
from sylo.commands.catalog import DEFAULT_PATH
from sylo.commands.outbox import Command, Outbox, now
from sylo.commands.signing import TOLERANCE_SECONDS, sign

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 300.0
SETUP_BACKOFF_SECONDS = 30.0  # n8n registers its webhooks 6-100 s after its port opens: look again soon
SETUP_CAUSES = frozenset({"starting", "not_registered", "auth", "no_credential", "not_configured"})
STARTING_UP = "n8n is starting up. Please wait"
NO_CREDENTIAL = "No authentication data defined on node!"
DATABASE_NOT_READY = "Database is not ready!"
REASON_CHARS = 200


@dataclass(frozen=True)
class Outcome:
    verdict: str  # delivered | running | failed | retry
    cause: str  # ok, or why it failed: rejected, or one of health.CAUSES
    status: int | None = None
    result: Any = None
    reason: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class Policy:
    """How long commands are retried, how long a running one may wait for its result, the lease."""

    max_age: timedelta
    setup_window: timedelta
    result_timeout: timedelta
    lease: timedelta
    approval_ttl: timedelta = timedelta(hours=72)  # a command held for the owner expires unanswered after it

    @classmethod
    def from_settings(cls, settings, **overrides) -> "Policy":
        policy = cls(max_age=timedelta(hours=settings.command_max_age_hours),
                     setup_window=timedelta(minutes=settings.n8n_setup_retry_minutes),
                     result_timeout=timedelta(minutes=settings.command_result_timeout_minutes),
                     lease=timedelta(seconds=settings.n8n_timeout_seconds + 30),
                     approval_ttl=timedelta(hours=settings.approval_ttl_hours))
        return replace(policy, **overrides)


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
        """UTF-8 JSON, non-ASCII as is: the bytes signed are the bytes a workflow's JSON.stringify gives back."""
        return json.dumps({"id": command.id, "action": command.action, "params": command.params,
                           "user_id": command.user_id, "source": command.source, "attempt": command.attempts,
                           "created_at": command.created_at.isoformat()},
                          separators=(",", ":"), ensure_ascii=False).encode()

    def headers(self, command: Command, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": command.id,
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
            return Outcome("retry", "not_configured", reason=str(error))
        body = self.body(command)
        try:
            response = self.client.post(url, content=body, headers=self.headers(command, body))
        except httpx.TimeoutException:
            return Outcome("retry", "timeout",
                           reason=f"n8n did not answer within {self.settings.n8n_timeout_seconds:g} s")
        except httpx.TransportError as error:
            return Outcome("retry", "unreachable", reason=f"could not reach n8n: {type(error).__name__}")
        return classify(response)


def classify(response: httpx.Response) -> Outcome:
    """What n8n's answer means for the command (see the module's docstring)."""
    status = response.status_code
    if 200 <= status < 300 and not _starting_up(response):
        payload = _payload(response)
        if status == 202 and isinstance(payload, dict) and payload.get("status") == "running":
            return Outcome("running", "ok", status, payload)
        return Outcome("delivered", "ok", status, payload)
    detail = _detail(response)
    cause = _cause(status, detail, response.headers.get("Content-Type", ""))
    if cause == "rejected":
        return Outcome("failed", cause, status, reason=f"n8n refused it ({status}): {detail}")
    retry_after = response.headers.get("Retry-After", "")
    return Outcome("retry", cause, status, reason=f"n8n answered {status}: {detail}",
                   retry_after=float(retry_after) if retry_after.isascii() and retry_after.isdigit() else None)


def _cause(status: int, detail: str, content_type: str) -> str:
    if 200 <= status < 300:
        return "starting"
    if status == 404:
        if "is not registered" in detail:
            return "not_registered"
        return "starting" if content_type.startswith("text/html") and detail.startswith("Cannot ") else "rejected"
    if status in (401, 403):
        return "auth"
    if status == 408:
        return "timeout"
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return {NO_CREDENTIAL: "no_credential", DATABASE_NOT_READY: "starting"}.get(detail, "server_error")
    return "rejected"


def settle(outbox: Outbox, command: Command, outcome: Outcome, policy: Policy) -> str:
    """Record an outcome; a retry past its bound becomes a failure. Returns the command's new status."""
    if outcome.verdict == "delivered":
        outbox.delivered(command, outcome.status, outcome.result)
        return "delivered"
    if outcome.verdict == "running":
        outbox.running(command, outcome.status, outcome.result, now() + policy.result_timeout)
        return "running"
    if outcome.verdict == "failed":
        outbox.failed(command, outcome.reason, outcome.status, outcome.cause)
        return "failed"
    at, setup = now(), outcome.cause in SETUP_CAUSES
    same_class = command.failure_cause is not None and (command.failure_cause in SETUP_CAUSES) == setup
    since = command.failing_since if same_class and command.failing_since else at
    delay = backoff(command.attempts, outcome.retry_after, SETUP_BACKOFF_SECONDS if setup else MAX_BACKOFF_SECONDS)
    give_up_at = (command.decided_at or command.created_at) + policy.max_age  # held ones: from their approval
    if setup:
        give_up_at = min(give_up_at, since + policy.setup_window)
    if at + timedelta(seconds=delay) > give_up_at:
        outbox.failed(command, f"gave up after {command.attempts} attempts over {duration(at - command.created_at)}: "
                               f"{outcome.reason}", outcome.status, outcome.cause)
        return "failed"
    outbox.retry_later(command, outcome.reason, at + timedelta(seconds=delay), outcome.status, outcome.cause, since)
    return "queued"


def backoff(attempts: int, retry_after: float | None = None, cap: float = MAX_BACKOFF_SECONDS) -> float:
    """0.5 s, 1 s, 2 s ... capped, with full jitter on the upper half; Retry-After wins (up to 5 minutes)."""
    if retry_after is not None:
        return min(max(retry_after, 0.5), MAX_BACKOFF_SECONDS)
    return exponential(attempts, base=0.5, cap=cap)


def duration(span: timedelta) -> str:
    """A span as people say it: 0.6 s, 42 s, 15 min, 24 h."""
    seconds = span.total_seconds()
    if seconds < 120:
        return f"{round(seconds, 1):g} s"
    if seconds < 7200:
        return f"{round(seconds / 60, 1):g} min"
    return f"{round(seconds / 3600, 1):g} h"


def expire_overdue(outbox: Outbox, result_timeout: timedelta, command_id: str | None = None) -> list[Command]:
    """Fail running commands whose result is overdue (or just the one named)."""
    reason = (f"no result from n8n within {duration(result_timeout)} of its 202 running "
              "(SYLO_COMMAND_RESULT_TIMEOUT_MINUTES)")
    return outbox.expire_running(reason, command_id)


def expire_approvals(outbox: Outbox, ttl: timedelta, command_id: str | None = None) -> list[Command]:
    """Expire commands held for the owner's approval longer than `ttl` (or just the one named)."""
    reason = f"no decision within {duration(ttl)} (SYLO_APPROVAL_TTL_HOURS)"
    return outbox.expire_approvals(now() - ttl, reason, command_id)


class LeaseKeeper:
    """Keeps the leases of deliveries in flight from lapsing: every third of a lease, one UPDATE
    extends them all. A delivery can outlast its lease (a slow workflow, a slow network); without
    this another worker would take the command and send it again."""

    def __init__(self, outbox: Outbox, lease: timedelta):
        self.outbox, self.lease = outbox, lease
        self.held: set[str] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def holding(self, command_id: str) -> Iterator[None]:
        with self._lock:
            self.held.add(command_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="outbox-leases", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self.held.discard(command_id)

    def _run(self) -> None:
        while not self._stopping.wait(self.lease.total_seconds() / 3):
            with self._lock:
                ids = sorted(self.held)
            if not ids:
                continue
            try:
                self.outbox.extend_leases(ids, self.lease)
            except Exception:  # the next beat tries again; a lease has two more beats before it lapses
                log.warning("could not extend the leases of %d deliveries in flight", len(ids), exc_info=True)

    def close(self) -> None:
        self._stopping.set()


class Deliverer:
    """Sends one claimed command, keeping its lease alive while in flight, and records the outcome."""

    def __init__(self, outbox: Outbox, forwarder: Forwarder, policy: Policy):
        self.outbox, self.forwarder, self.policy = outbox, forwarder, policy
        self.leases = LeaseKeeper(outbox, policy.lease)

    def deliver(self, command: Command) -> str:
        with self.leases.holding(command.id):
            try:
                outcome = self.forwarder.send(command)
            except Exception as error:  # a bug must not strand the command: it is retried after backoff
                log.exception("delivering %s failed unexpectedly", command.id)
                outcome = Outcome("retry", "error", reason=f"internal error: {type(error).__name__}")
            status = settle(self.outbox, command, outcome, self.policy)
        log.info("command %s (%s) attempt %d: %s", command.id, command.action, command.attempts, status)
        return status



class Worker:
    """Drains the outbox: claims due commands as slots free up, delivers them in parallel, records each
    outcome; now and then fails running commands whose result is overdue."""

    def __init__(self, deliverer: Deliverer, *, concurrency: int, poll_seconds: float = 0.2,
                 sweep_seconds: float = 5.0):
        self.deliverer, self.outbox = deliverer, deliverer.outbox
        self.concurrency, self.poll_seconds, self.sweep_seconds = concurrency, poll_seconds, sweep_seconds
        self.stopping, self.slot_freed = threading.Event(), threading.Event()
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="outbox")
        self.in_flight = 0
        self._lock = threading.Lock()
        self._swept_at: datetime | None = None

    @classmethod
    def from_settings(cls, settings, outbox: Outbox, **overrides) -> "Worker":
        policy = Policy.from_settings(settings, **{k: overrides.pop(k) for k in list(overrides)
                                                   if k in Policy.__dataclass_fields__})
        options = {"concurrency": settings.worker_concurrency, **overrides}
        return cls(Deliverer(outbox, Forwarder(settings), policy), **options)

    def drain_once(self) -> int:
        """Deliver every command due now, `concurrency` at a time; returns how many were attempted."""
        self.sweep()
        attempted = 0
        while not self.stopping.is_set():
            batch = self.outbox.claim(self.concurrency, self.deliverer.policy.lease)
            if not batch:
                return attempted
            list(self.pool.map(self.deliverer.deliver, batch))
            attempted += len(batch)
        return attempted

    def run(self) -> None:
        log.info("outbox worker started (%d deliveries in flight at most)", self.concurrency)
        while not self.stopping.is_set():
            try:
                self._sweep_when_due()
                started = self._fill()
            except Exception:  # the database may be briefly unavailable; keep the worker alive
                log.exception("outbox poll failed; retrying")
                started = 0
            if not started:
                self.slot_freed.wait(self.poll_seconds)
                self.slot_freed.clear()
        self.pool.shutdown(wait=True)
        self.deliverer.leases.close()

    def _fill(self) -> int:
        """Claim as many due commands as there are free slots, and start them; how many started.

        While deliveries are in flight, a claim waits for a quarter of the slots to be free: one claim
        then leases several commands, rather than one per delivery that finishes."""
        with self._lock:
            free, busy = self.concurrency - self.in_flight, self.in_flight
        if free <= 0 or (busy and free < max(1, self.concurrency // 4)):
            return 0
        batch = self.outbox.claim(free, self.deliverer.policy.lease)
        for command in batch:
            with self._lock:
                self.in_flight += 1
            self.pool.submit(self._deliver, command)
        return len(batch)

    def _deliver(self, command: Command) -> None:
        try:
            self.deliverer.deliver(command)
        finally:
            with self._lock:
                self.in_flight -= 1
            self.slot_freed.set()

    def _sweep_when_due(self) -> None:
        if self._swept_at is None or (now() - self._swept_at).total_seconds() >= self.sweep_seconds:
            self.sweep()

    def sweep(self) -> None:
        """Fail overdue running commands; expire unanswered approvals; forget result webhook-ids too old to verify."""
        self._swept_at = now()
        for command in expire_overdue(self.outbox, self.deliverer.policy.result_timeout):
            log.info("command %s (%s): no result in time, failed", command.id, command.action)
        for command in expire_approvals(self.outbox, self.deliverer.policy.approval_ttl):
            log.info("command %s (%s): not approved in time, expired", command.id, command.action)
        self.outbox.forget_results(now() - timedelta(seconds=4 * TOLERANCE_SECONDS))

    def stop(self) -> None:
        self.stopping.set()
        self.slot_freed.set()


def _starting_up(response: httpx.Response) -> bool:
    """n8n answers 200 with this page while its database migrates: the workflow never saw the command."""
    return (response.headers.get("Content-Type", "").startswith("text/html")
            and response.text.strip() == STARTING_UP)


def _payload(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"text": response.text[:10_000]} if response.text else None


def _detail(response: httpx.Response) -> str:
    """n8n's message in a line: a JSON error's message, an HTML page's text, a plain body's first line."""
    text = response.text
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        text = str(body.get("message") or body.get("error") or body.get("hint") or json.dumps(body))
    elif body is not None:
        text = json.dumps(body)
    elif response.headers.get("Content-Type", "").startswith("text/html"):
        text = _html_text(text)
    return _one_line(text) or response.reason_phrase or "no answer body"


def _html_text(page: str) -> str:
    """The message of an HTML error page (Express puts it in <pre>), without markup."""
    found = re.search(r"<pre>(.*?)</pre>", page, re.S | re.I) or re.search(r"<title>(.*?)</title>", page, re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1) if found else page))


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= REASON_CHARS else line[:REASON_CHARS - 1] + "…"
