"""Moving-window limits shared by every process through Redis, and what each does when Redis is down.

Built on the `limits` library (which Flask-Limiter is built on). With `SYLO_REDIS_URL` every API
worker shares one count; without it each process counts on its own. When Redis cannot be
reached, a throttle either fails closed (`Unavailable`: the per-user command limit, a promise to
the owner that no agent exceeds it) or falls back to counting in this process (abuse bounds such
as failed sign-ins: still bounded, per process, and the dashboard keeps working). After a failure
Redis is left alone for a few seconds, so an outage costs one warning, not a connection attempt
and a traceback per request.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque

from limits import parse
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from limits.util import WindowStats

log = logging.getLogger(__name__)
COOLDOWN_SECONDS = 5.0  # how long Redis is left alone after it failed


class Unavailable(Exception):
    """The shared count cannot be reached; `retry_after` says when to try again."""

    def __init__(self, retry_after: int):
        super().__init__("rate limit storage unreachable")
        self.retry_after = retry_after


class Breaker:
    """Leave a failed Redis alone for a few seconds: one warning per outage window, no wait per request."""

    def __init__(self, name: str, cooldown: float = COOLDOWN_SECONDS):
        self.name, self.cooldown = name, cooldown
        self._down_until = 0.0
        self._lock = threading.Lock()

    def closed(self) -> bool:
        """True while Redis may be asked."""
        return time.monotonic() >= self._down_until

    def trip(self, error: BaseException, fallback: str) -> None:
        with self._lock:
            first = self.closed()
            self._down_until = time.monotonic() + self.cooldown
        if first:
            log.warning("%s: Redis unreachable (%s); %s for %.0f s", self.name, type(error).__name__, fallback,
                        self.cooldown)


class Throttle:
    """`limit` (e.g. "100/minute") per key, in Redis when configured, in this process otherwise."""

    def __init__(self, name: str, limit: str, redis_url: str | None = None, *, fail_open_locally: bool = True):
        self.name, self.item = name, parse(limit)
        self.fail_open_locally = fail_open_locally
        self.local = LocalMovingWindow()
        self.shared = None
        if redis_url:
            storage = storage_from_string(redis_url, wrap_exceptions=True, socket_connect_timeout=2, socket_timeout=2)
            self.shared = MovingWindowRateLimiter(storage)
        self.breaker = Breaker(name)

    @classmethod
    def per_minute(cls, name: str, count: int, redis_url: str | None = None, **options) -> "Throttle":
        return cls(name, f"{count}/minute", redis_url, **options)

    def hit(self, key: str) -> int | None:
        """Count one event for `key`: None while within the limit, else the seconds until it would be."""
        return self._call(lambda limiter: self._hit(limiter, key))

    def blocked(self, key: str) -> int | None:
        """Like `hit` without counting: the seconds until `key` may go on, or None when it may now."""
        return self._call(lambda limiter: None if limiter.test(self.item, self.name, key)
                          else self._retry_after(limiter, key))

    def _hit(self, limiter: MovingWindowRateLimiter, key: str) -> int | None:
        return None if limiter.hit(self.item, self.name, key) else self._retry_after(limiter, key)

    def _retry_after(self, limiter: MovingWindowRateLimiter, key: str) -> int:
        reset = limiter.get_window_stats(self.item, self.name, key).reset_time
        return max(1, math.ceil(reset - time.time()))

    def _call(self, operation):
        if self.shared is not None and self.breaker.closed():
            try:
                return operation(self.shared)
            except StorageError as error:
                self.breaker.trip(error.storage_error, "counting in this process" if self.fail_open_locally
                                  else "refusing")
        if self.shared is not None and not self.fail_open_locally:
            raise Unavailable(math.ceil(self.breaker.cooldown))
        return operation(self.local)


class LocalMovingWindow:
    """The moving window of limits' `MovingWindowRateLimiter` (the part `Throttle` uses), counted in this process.

    limits' own `MemoryStorage` expires entries on a timer thread it starts anew every 10 ms while
    counts exist: on the command path that was a thread start every few requests, milliseconds of
    latency each under load. Here a key's entries expire when it is next counted, and every key
    when there are many."""

    SWEEP_KEYS = 10_000

    def __init__(self):
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, item, *identifiers: str, cost: int = 1) -> bool:
        with self._lock:
            events = self._window(item, identifiers, create=True)
            if len(events) + cost > item.amount:
                return False
            events.extend([time.time()] * cost)
            if len(self._events) > self.SWEEP_KEYS:
                self._sweep(item.get_expiry())
            return True

    def test(self, item, *identifiers: str, cost: int = 1) -> bool:
        with self._lock:
            return len(self._window(item, identifiers)) + cost <= item.amount

    def get_window_stats(self, item, *identifiers: str) -> WindowStats:
        with self._lock:
            events = self._window(item, identifiers)
            reset = events[0] + item.get_expiry() if events else time.time()
            return WindowStats(reset, max(0, item.amount - len(events)))

    def _window(self, item, identifiers, create: bool = False) -> deque[float]:
        key = item.key_for(*identifiers)
        events = self._events.get(key)
        if events is None:
            if not create:
                return deque()
            events = self._events[key] = deque()
        horizon = time.time() - item.get_expiry()
        while events and events[0] <= horizon:
            events.popleft()
        return events

    def _sweep(self, expiry: float) -> None:
        horizon = time.time() - expiry
        for key in [key for key, events in self._events.items() if not events or events[-1] <= horizon]:
            del self._events[key]
