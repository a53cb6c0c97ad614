"""Taking a command in: who sent it, whether it is new, whether they may, what it asks; then the outbox.

The same path serves signed HTTP commands and MCP tool calls (already authenticated by bearer
token). Every refusal raises `Refused` after writing its audit entry; nothing refused is stored
as a command, so nothing refused can reach n8n.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from pydantic import ValidationError
from sqlalchemy import select

from sylo.appdb.schema import signing_secrets
from sylo.commands import signing
from sylo.commands.catalog import CATALOG
from sylo.commands.delivery import Deliverer
from sylo.commands.outbox import Command, Outbox, now

log = logging.getLogger(__name__)
MISS_RELOAD_SECONDS = 5.0


class Refused(Exception):
    """A command turned away: an HTTP status, a problem slug and a sentence for the caller."""

    def __init__(self, status: int, slug: str, detail: str, *, retry_after: int | None = None,
                 errors: list | None = None):
        super().__init__(detail)
        self.status, self.slug, self.detail, self.retry_after, self.errors = status, slug, detail, retry_after, errors


@dataclass(frozen=True)
class Submitted:
    command: Command
    replayed: bool


class SecretCache:
    """Decrypted signing-secret keys per user, refreshed after `ttl` or when a signature finds no match.

    Decrypting on every request would cost an AES-GCM open per secret per command; the keys are
    needed in memory to verify anyway. A rotated or revoked secret takes effect within `ttl`.
    """

    def __init__(self, engine, keyring, ttl: float = 30.0):
        self.engine, self.keyring, self.ttl = engine, keyring, ttl
        self._keys: dict[str, list[bytes]] = {}
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def keys(self, user_id: str | None = None, refresh: bool = False,
             on_miss: bool = False) -> dict[str, list[bytes]]:
        """`refresh` reloads now (after a rotation); `on_miss` reloads at most every few seconds, so
        requests with wrong signatures cannot make every request reload and decrypt every secret."""
        with self._lock:
            age = time.monotonic() - self._loaded_at
            if refresh or age > self.ttl or (on_miss and age > MISS_RELOAD_SECONDS):
                self._keys, self._loaded_at = self._load(), time.monotonic()
            if user_id is not None:
                return {user_id: self._keys.get(user_id, [])}
            return dict(self._keys)

    def _load(self) -> dict[str, list[bytes]]:
        at = now()
        live = (select(signing_secrets.c.id, signing_secrets.c.user_id, signing_secrets.c.ciphertext)
                .where(signing_secrets.c.revoked_at.is_(None))
                .where((signing_secrets.c.expires_at.is_(None)) | (signing_secrets.c.expires_at > at)))
        keys: dict[str, list[bytes]] = {}
        with self.engine.connect() as conn:
            for secret_id, user_id, ciphertext in conn.execute(live):
                aad = b"signing_secret:" + user_id.encode() + b":" + secret_id.encode()
                secret = self.keyring.decrypt(ciphertext, aad).decode()
                keys.setdefault(user_id, []).append(signing.secret_key(secret))
        return keys


class ReplayGuard:
    """Redis as a fast path in front of the app DB's unique (user, message id): a duplicate is
    answered from the stored command without attempting an insert. The database stays the truth."""

    def __init__(self, redis=None, ttl_seconds: int = 2 * signing.TOLERANCE_SECONDS + 60):
        self.redis, self.ttl = redis, ttl_seconds

    def seen(self, user_id: str, message_id: str) -> bool:
        if self.redis is None:
            return False
        try:
            return self.redis.exists(f"sylo:cmd:{user_id}:{message_id}") == 1
        except Exception:  # Redis down: the unique key still stops replays
            log.warning("replay guard: Redis unavailable, relying on the app DB")
            return False

    def remember(self, user_id: str, message_id: str, command_id: str) -> None:
        if self.redis is None:
            return
        try:
            self.redis.set(f"sylo:cmd:{user_id}:{message_id}", command_id, ex=self.ttl)
        except Exception:
            log.warning("replay guard: Redis unavailable, relying on the app DB")


class RateLimiter:
    """A moving window per user (the `limits` library, which Flask-Limiter is built on): Redis when
    configured, so every process shares one count; in-process memory otherwise."""

    def __init__(self, per_minute: int, redis_url: str | None = None):
        self.item = RateLimitItemPerMinute(per_minute)
        self.limiter = MovingWindowRateLimiter(storage_from_string(redis_url or "memory://"))

    def hit(self, user_id: str) -> int | None:
        """None when allowed; otherwise the seconds until the next command would be."""
        if self.limiter.hit(self.item, "commands", user_id):
            return None
        reset = self.limiter.get_window_stats(self.item, "commands", user_id).reset_time
        return max(1, math.ceil(reset - time.time()))


class CommandService:
    def __init__(self, outbox: Outbox, secrets: SecretCache, limiter: RateLimiter, replay: ReplayGuard,
                 deliverer: Deliverer | None, *, wait_seconds: float):
        self.outbox, self.secrets, self.limiter, self.replay = outbox, secrets, limiter, replay
        self.deliverer, self.wait_seconds = deliverer, wait_seconds
        self.pool = ThreadPoolExecutor(16, thread_name_prefix="deliver") if deliverer and wait_seconds > 0 else None

    # -- signed HTTP commands ------------------------------------------------------------------

    def verify(self, body: bytes, headers: Mapping[str, str]) -> tuple[str, str]:
        """The user whose secret signed this request, and its message id; Refused (401) otherwise."""
        try:
            message_id, timestamp, signatures = signing.check_headers(headers)
        except signing.SignatureError as error:
            self._refuse(None, "command.refused", str(error), None, headers.get("webhook-id"), "http")
            slug = "stale-timestamp" if "timestamp is more" in str(error) else "invalid-signature"
            raise Refused(401, slug, f"Signature refused: {error}.") from None
        named = headers.get("X-Sylo-User") or None
        for on_miss in (False, True):
            for user_id, keys in self.secrets.keys(named, on_miss=on_miss).items():
                if keys and signing.matches(keys, message_id, timestamp, body, signatures):
                    return user_id, message_id
        self._refuse(named, "command.refused", "no signing secret matched", None, message_id, "http")
        raise Refused(401, "invalid-signature",
                      "Signature refused: it matches no active signing secret"
                      + (" of that user." if named else ".") + " Sign webhook-id.webhook-timestamp.body "
                      "with your whsec_ secret (Standard Webhooks v1).")

    def submit(self, user_id: str, message_id: str, payload: object, source: str) -> Submitted:
        """Replay check, rate limit, validation, then the outbox; delivery is attempted inline within the wait."""
        if self.replay.seen(user_id, message_id):
            original = self.outbox.by_message(user_id, message_id)
            if original is not None:
                self.outbox.audit(user_id, "command.replayed", "refused", command_id=original.id,
                                  action=original.action, message_id=message_id, source=source,
                                  detail="message id already accepted; not forwarded again")
                return Submitted(original, True)
        retry_after = self.limiter.hit(user_id)
        if retry_after is not None:
            self._refuse(user_id, "command.refused", "rate limit", None, message_id, source)
            raise Refused(429, "rate-limited", f"Too many commands; try again in {retry_after} s.",
                          retry_after=retry_after)
        action, params = self._validate(user_id, message_id, payload, source)
        command, replayed = self.outbox.accept(user_id=user_id, message_id=message_id, action=action,
                                               params=params, source=source)
        self.replay.remember(user_id, message_id, command.id)
        if replayed or self.pool is None:
            return Submitted(command, replayed)
        return Submitted(self._deliver_within_wait(command), False)

    def _validate(self, user_id: str, message_id: str, payload: object, source: str) -> tuple[str, dict]:
        if not isinstance(payload, dict) or not isinstance(payload.get("action"), str):
            self._refuse(user_id, "command.refused", "malformed body", None, message_id, source)
            raise Refused(400, "malformed-command", 'The body must be a JSON object {"action": ..., "params": {...}}.')
        action = CATALOG.get(payload["action"])
        if action is None:
            self._refuse(user_id, "command.refused", "unknown action", payload["action"][:100], message_id, source)
            raise Refused(422, "unknown-action", f"Unknown action {payload['action'][:100]!r}; "
                                                 "GET /v1/capabilities lists them.")
        extra = set(payload) - {"action", "params"}
        try:
            if extra:
                raise ValueError(f"unexpected fields {sorted(extra)}")
            params = action.params.model_validate(payload.get("params", {}))
        except (ValidationError, ValueError) as error:
            errors = _errors(error)
            self._refuse(user_id, "command.refused", "invalid params: " + "; ".join(errors)[:500], action.name,
                         message_id, source)
            raise Refused(422, "invalid-params", f"The params do not fit {action.name}: " + "; ".join(errors),
                          errors=errors) from None
        return action.name, json.loads(params.model_dump_json(exclude_none=True))

    def _deliver_within_wait(self, command: Command) -> Command:
        claimed = self.outbox.claim(1, self.deliverer.policy.lease, command_id=command.id)
        if not claimed:
            return command
        future = self.pool.submit(self.deliverer.deliver, claimed[0])
        try:
            future.result(timeout=self.wait_seconds)
        except FutureTimeout:
            pass  # still running: it records its own outcome; the caller gets 202 and a status URL
        except Exception:
            log.exception("inline delivery of %s failed; the worker will retry after the lease", command.id)
        return self.outbox.get(command.id) or command

    def _refuse(self, user_id, kind, detail, action, message_id, source) -> None:
        self.outbox.audit(user_id, kind, "refused", action=action, message_id=(message_id or "")[:255] or None,
                          source=source, detail=detail)


def _errors(error: Exception) -> list[str]:
    if isinstance(error, ValidationError):
        return [f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in error.errors()]
    return [str(error)]
