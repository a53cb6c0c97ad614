"""Taking a command in: who sent it, whether it is new, whether they may, what it asks; then the outbox.

The same path serves signed HTTP commands and MCP tool calls (already authenticated by bearer
token). Every refusal raises `Refused` after writing its audit entry; nothing refused is stored
as a command, so nothing refused can reach n8n. The owner's policy (sylo/commands/policy.py)
decides the rest: deny refuses at once (403), ask stores the command held for approval, and an
action that reaches outside the studio must fit the daily cap, counted in the same transaction
that stores it. The owner's approvals and declines come back through here too.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import timedelta

from pydantic import ValidationError
from redis.exceptions import RedisError
from sqlalchemy import select

from sylo.appdb.schema import signing_secrets
from sylo.commands import signing
from sylo.commands.catalog import CATALOG, Action
from sylo.commands.delivery import Deliverer, duration, expire_approvals
from sylo.commands.outbox import CapReached, Command, DailyCap, Decision, Outbox, now
from sylo.commands.policy import WORDS, Policies
from sylo.export_layout import USER_ID
from sylo.throttle import Breaker, Throttle, Unavailable

log = logging.getLogger(__name__)
MISS_RELOAD_SECONDS = 5.0
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # NUL: Postgres refuses it


class Refused(Exception):
    """A command turned away: an HTTP status, a problem slug and a sentence for the caller."""

    def __init__(self, status: int, slug: str, detail: str, *, retry_after: int | None = None,
                 errors: list | None = None, extra: dict | None = None):
        super().__init__(detail)
        self.status, self.slug, self.detail, self.retry_after, self.errors = status, slug, detail, retry_after, errors
        self.extra = extra or {}


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
    answered from the stored command without attempting an insert. The database stays the truth,
    so with Redis down the guard steps aside (asking again only after a cooldown)."""

    def __init__(self, redis=None, ttl_seconds: int = 2 * signing.TOLERANCE_SECONDS + 60):
        self.redis, self.ttl = redis, ttl_seconds
        self.breaker = Breaker("replay guard")

    def seen(self, user_id: str, message_id: str) -> bool:
        if self.redis is None or not self.breaker.closed():
            return False
        try:
            return self.redis.exists(f"sylo:cmd:{user_id}:{message_id}") == 1
        except RedisError as error:  # the unique key still stops replays
            self.breaker.trip(error, "relying on the app DB")
            return False

    def remember(self, user_id: str, message_id: str, command_id: str) -> None:
        if self.redis is None or not self.breaker.closed():
            return
        try:
            self.redis.set(f"sylo:cmd:{user_id}:{message_id}", command_id, ex=self.ttl)
        except RedisError as error:
            self.breaker.trip(error, "relying on the app DB")


class RateLimiter:
    """Commands per user per minute, one count across every process when Redis is configured.

    It fails closed: with Redis unreachable `hit` raises `Unavailable` (a 503 to the caller),
    because counting per process would quietly multiply the owner's limit by the worker count."""

    def __init__(self, per_minute: int, redis_url: str | None = None):
        self.throttle = Throttle.per_minute("commands", per_minute, redis_url, fail_open_locally=False)

    def hit(self, user_id: str) -> int | None:
        """None when allowed; otherwise the seconds until the next command would be."""
        return self.throttle.hit(user_id)


class CommandService:
    def __init__(self, outbox: Outbox, secrets: SecretCache, limiter: RateLimiter, replay: ReplayGuard,
                 deliverer: Deliverer | None, *, wait_seconds: float, failures: Throttle | None = None,
                 policies: Policies | None = None, external_per_day: int = 50,
                 approval_ttl: timedelta = timedelta(hours=72)):
        self.outbox, self.secrets, self.limiter, self.replay = outbox, secrets, limiter, replay
        self.policies = policies or Policies(outbox.engine)
        self.cap = DailyCap(external_per_day, tuple(name for name, a in CATALOG.items() if a.reaches_outside))
        self.approval_ttl = approval_ttl
        # Refusals before a signature verifies, per client address: fail open to a local count.
        self.failures = failures or Throttle.per_minute("signature-failures", 20)
        self.deliverer, self.wait_seconds = deliverer, wait_seconds
        self.pool = ThreadPoolExecutor(16, thread_name_prefix="deliver") if deliverer and wait_seconds > 0 else None

    # -- signed HTTP commands ------------------------------------------------------------------

    def admit(self, address: str) -> None:
        """Refuse at once, unaudited, an address that sent too many commands that did not verify."""
        retry_after = self.failures.blocked(address)
        if retry_after is not None:
            raise Refused(429, "too-many-failures", "Too many commands from your address were refused before their "
                          f"signature verified; try again in {retry_after} s.", retry_after=retry_after)

    def refuse_unverified(self, address: str, detail: str, message_id: str | None) -> None:
        """Audit a refusal that came before we knew who sent it: under no user, counted against the address.

        Whatever X-Sylo-User claims stays out of user_id, so forgeries never reach anyone's
        Activity page; the count bounds how many of these rows one address can write."""
        self.failures.hit(address)
        self._refuse(None, "command.refused", f"{detail} (from {address})", None, message_id, "http")

    def verify(self, body: bytes, headers: Mapping[str, str], address: str) -> tuple[str, str]:
        """The user whose secret signed this request, and its message id; Refused (401) otherwise."""
        try:
            message_id, timestamp, signatures = signing.check_headers(headers)
        except signing.SignatureError as error:
            self.refuse_unverified(address, str(error), headers.get("webhook-id"))
            slug = "stale-timestamp" if "timestamp is more" in str(error) else "invalid-signature"
            raise Refused(401, slug, f"Signature refused: {error}.") from None
        named = headers.get("X-Sylo-User") or None
        if named is not None and not USER_ID.fullmatch(named):
            self.refuse_unverified(address, "X-Sylo-User is not a user id", message_id)
            raise Refused(401, "invalid-signature", "X-Sylo-User must be a Sylo user id (letters, digits, _ and -, "
                                                    "at most 100 characters), or left out.")
        for on_miss in (False, True):
            for user_id, keys in self.secrets.keys(named, on_miss=on_miss).items():
                if keys and signing.matches(keys, message_id, timestamp, body, signatures):
                    return user_id, message_id
        claimed = f" of X-Sylo-User {named!r}" if named else ""
        self.refuse_unverified(address, f"no signing secret{claimed} matched", message_id)
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
        try:
            retry_after = self.limiter.hit(user_id)
        except Unavailable as down:
            self._refuse(user_id, "command.refused", "rate limit unavailable (Redis unreachable)", None, message_id,
                         source)
            raise Refused(503, "rate-limit-unavailable", "Sylo cannot check your rate limit right now (its Redis is "
                          f"unreachable), so it takes no commands; try again in {down.retry_after} s.",
                          retry_after=down.retry_after) from None
        if retry_after is not None:
            self._refuse(user_id, "command.refused", "rate limit", None, message_id, source)
            raise Refused(429, "rate-limited", f"Too many commands; try again in {retry_after} s.",
                          retry_after=retry_after)
        action = self._action(user_id, message_id, payload, source)
        setting = self.policies.setting(user_id, action.name)
        if setting == "deny":
            self._refuse(user_id, "command.refused", f"action not allowed: {action.name} is set to "
                         f"{WORDS['deny']} by the owner", action.name, message_id, source)
            raise Refused(403, "action-not-allowed", f"The studio owner does not allow {action.name} (its permission "
                          "is set to Never), so nothing was done. Do not retry; ask the owner if it should be allowed.",
                          extra={"action": action.name})
        params = self._validate(user_id, message_id, payload, action, source)
        command, replayed = self._store(user_id, message_id, action, params, source, hold=setting == "ask")
        self.replay.remember(user_id, message_id, command.id)
        if replayed or self.pool is None or command.status != "queued":
            return Submitted(command, replayed)
        return Submitted(self._deliver_within_wait(command), False)

    def _store(self, user_id: str, message_id: str, action: Action, params: dict, source: str,
               hold: bool) -> tuple[Command, bool]:
        """Into the outbox: queued, or held for approval; an action reaching outside within the daily cap."""
        try:
            return self.outbox.accept(user_id=user_id, message_id=message_id, action=action.name, params=params,
                                      source=source, hold=hold, cap=self.cap if action.reaches_outside else None)
        except CapReached as reached:
            self._refuse(user_id, "command.refused", f"daily limit: {reached.limit} actions that reach outside the "
                         "studio in 24 hours", action.name, message_id, source)
            wait = max(1, int((reached.resets_at - now()).total_seconds() + 0.999))
            resets = reached.resets_at.isoformat(timespec="seconds")
            raise Refused(429, "daily-limit-reached", f"Your agents already sent {reached.limit} actions that reach "
                          "outside the studio in the last 24 hours (SYLO_EXTERNAL_ACTIONS_PER_DAY), so nothing was "
                          f"done. It resets for the next one at {resets} (in {duration(timedelta(seconds=wait))}).",
                          retry_after=wait, extra={"action": action.name, "limit": reached.limit,
                                                   "resets_at": resets}) from None

    def _action(self, user_id: str, message_id: str, payload: object, source: str) -> Action:
        if not isinstance(payload, dict) or not isinstance(payload.get("action"), str):
            self._refuse(user_id, "command.refused", "malformed body", None, message_id, source)
            raise Refused(400, "malformed-command", 'The body must be a JSON object {"action": ..., "params": {...}}.')
        action = CATALOG.get(payload["action"])
        if action is None:
            self._refuse(user_id, "command.refused", "unknown action", payload["action"][:100], message_id, source)
            raise Refused(422, "unknown-action", f"Unknown action {payload['action'][:100]!r}; "
                                                 "GET /v1/capabilities lists them.")
        return action

    def _validate(self, user_id: str, message_id: str, payload: dict, action: Action, source: str) -> dict:
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
        return json.loads(params.model_dump_json(exclude_none=True))

    # -- the owner's decisions ------------------------------------------------------------------

    def approve(self, command_id: str, user_id: str, by: str) -> Decision:
        """Queue a held command (once, however many approvals race); sent at once when this process delivers."""
        decision = self.outbox.approve(command_id, user_id, by=by, asked_after=now() - self.approval_ttl)
        if decision.applied and self.pool is not None:
            self.pool.submit(self._deliver_now, decision.command)
        return decision if decision.applied else Decision(False, self._settled(command_id, user_id))

    def decline(self, command_id: str, user_id: str, by: str) -> Decision:
        decision = self.outbox.decline(command_id, user_id, by=by, asked_after=now() - self.approval_ttl)
        return decision if decision.applied else Decision(False, self._settled(command_id, user_id))

    def awaiting_approval(self, user_id: str) -> list[Command]:
        """The user's held commands that may still be approved (the worker's sweep expires the rest)."""
        asked_after = now() - self.approval_ttl
        return [command for command in self.outbox.awaiting_approval(user_id) if command.created_at > asked_after]

    def _settled(self, command_id: str, user_id: str) -> Command | None:
        """The command as it stands after a decision that did not apply: expired if it had waited too long."""
        command = self.outbox.get(command_id, user_id)
        if command is not None and command.status == "awaiting_approval":
            expire_approvals(self.outbox, self.approval_ttl, command_id)
            command = self.outbox.get(command_id, user_id)
        return command

    def _deliver_now(self, command: Command) -> None:
        """Deliver an approved command in this process if no worker claimed it first (the claim decides)."""
        try:
            claimed = self.outbox.claim(1, self.deliverer.policy.lease, command_id=command.id)
            if claimed:
                self.deliverer.deliver(claimed[0])
        except Exception:
            log.exception("delivering approved %s failed; the worker will retry it", command.id)

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
        self.outbox.audit(user_id, kind, "refused", action=_storable(action, 100),
                          message_id=_storable(message_id, 255), source=source, detail=_storable(detail, 2000))


def _storable(value: str | None, length: int) -> str | None:
    """Caller-supplied text as the audit log can hold it: no NUL or control characters, cut to the column."""
    if not value:
        return None
    return _UNSTORABLE.sub("\N{REPLACEMENT CHARACTER}", value)[:length]


def _errors(error: Exception) -> list[str]:
    if isinstance(error, ValidationError):
        return [f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in error.errors()]
    return [str(error)]
