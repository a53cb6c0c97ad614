"""Nango's outgoing auth webhooks, signed and retried as Nango does (reference/nango.md §5).

Body: compact JSON with sorted keys (JS `stringifyStable`); `X-Nango-Hmac-Sha256` is the hex
HMAC-SHA256 of the raw body under the webhook signing key, `X-Nango-Signature` the legacy
SHA-256 of key + body. One attempt plus two retries on network errors and 5xx only, 3 s then 6 s
apart, 20 s timeout. Deliveries run on a background thread, like Nango's webhook worker.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from sandbox.connections import Connection

log = logging.getLogger("sandbox.webhooks")
BACKOFF_S = (3.0, 6.0)
TIMEOUT_S = 20.0


def sign(body: bytes, key: str) -> dict[str, str]:
    return {
        "X-Nango-Hmac-Sha256": hmac.new(key.encode(), body, hashlib.sha256).hexdigest(),
        "X-Nango-Signature": hashlib.sha256(key.encode() + body).hexdigest(),
    }


def encode(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookSender:
    def __init__(self, url: str | None, key: str, *, environment: str = "dev", backoff_scale: float = 1.0):
        self.url = url
        self.key = key
        self.environment = environment
        self.backoff_scale = backoff_scale
        self.deliveries: list[dict] = []
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[dict, str] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()

    def auth_event(self, connection: Connection, operation: str, *, success: bool, error: dict | None = None) -> None:
        payload = {"type": "auth", "from": "nango", "operation": operation, "success": success,
                   "connectionId": connection.connection_id, "providerConfigKey": connection.integration,
                   "provider": connection.provider, "authMode": "OAUTH2", "environment": self.environment,
                   "tags": dict(connection.tags)}
        if connection.end_user():
            payload["endUser"] = {"endUserId": connection.tags["end_user_id"],
                                  "endUserEmail": connection.tags.get("end_user_email"),
                                  "organizationId": connection.tags.get("organization_id"), "tags": {}}
        if error:
            payload["error"] = error
        self.send(payload, connection.webhook_url_override)

    def send(self, payload: dict, url: str | None = None) -> None:
        """Queue a webhook for `url` (a connection's override) or else the environment's URL."""
        url = url or self.url
        if not url:
            log.debug("no webhook URL configured; dropping %s/%s", payload.get("type"), payload.get("operation"))
            return
        self._queue.put((payload, url))

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued webhook has been delivered or given up on."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        with httpx.Client(timeout=TIMEOUT_S) as client:
            while (item := self._queue.get()) is not None:
                try:
                    self._deliver(client, *item)
                except Exception:  # a sender bug must not kill the worker
                    log.exception("webhook delivery crashed")
                finally:
                    self._queue.task_done()
            self._queue.task_done()

    def _deliver(self, client: httpx.Client, payload: dict, url: str) -> None:
        body = encode(payload)
        headers = {"Content-Type": "application/json", "User-Agent": "nango/0.69.0 (sandbox)", **sign(body, self.key)}
        record = {"payload": payload, "url": url, "attempts": [], "delivered": False}
        for attempt in range(1 + len(BACKOFF_S)):
            try:
                response = client.post(url, content=body, headers=headers)
                record["attempts"].append({"status": response.status_code})
                if response.status_code < 500:
                    record["delivered"] = response.status_code < 300
                    break
            except httpx.HTTPError as exc:
                record["attempts"].append({"error": type(exc).__name__})
            if attempt < len(BACKOFF_S):
                time.sleep(BACKOFF_S[attempt] * self.backoff_scale)
        with self._lock:
            self.deliveries.append(record)
