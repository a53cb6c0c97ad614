"""Retries that behave (reference/providers.md, nango.md §4, §8).

- A rate limit with `Retry-After` waits that long; `Retry-After: 0` still waits a short floor
  (with jitter), so a fleet of workers never storms the provider.
- 5xx, Nango's upstream network errors, timeouts and dropped connections back off
  exponentially with jitter.
- Xero's daily limit (`X-Rate-Limit-Problem: day`) is not retried: the service stops for the day.
- A wait longer than `max_retry_after` is not slept through: the sync fails now and says why.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TypeVar

from sylo.backoff import exponential
from sylo.nango.client import NangoError, NangoRateLimited, ProviderRateLimited

T = TypeVar("T")
_JITTER = random.Random()


class DailyLimitReached(Exception):
    """The provider's daily quota is spent; nothing more today."""

    def __init__(self, service: str, retry_after: float):
        self.until = datetime.now(timezone.utc) + timedelta(seconds=retry_after)
        super().__init__(f"{service} daily API limit reached; paused until {self.until:%Y-%m-%d %H:%M} UTC")


class RetriesExhausted(Exception):
    """A call kept failing; carries the last error's message."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    min_retry_after: float = 0.5
    max_retry_after: float = 120.0
    sleep: Callable[[float], None] = time.sleep

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with equal jitter (sylo/backoff.py)."""
        return exponential(attempt, base=self.base_delay, cap=self.max_delay, rng=rng)

    def rate_limit_wait(self, retry_after: float | None, attempt: int, rng: random.Random) -> float:
        if retry_after is None:
            return max(self.min_retry_after, self.backoff(attempt, rng))
        floor = max(retry_after, self.min_retry_after)
        return floor + rng.uniform(0, self.min_retry_after)


@dataclass
class CallStats:
    """What calls cost: shown to operators in the materialization metadata."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    rate_limit_wait_s: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, *, retry: bool = False, wait: float = 0.0, rate_limited: bool = False, error: str = "") -> None:
        with self._lock:
            self.requests += not retry and not error
            self.retries += retry
            self.rate_limited += rate_limited
            self.rate_limit_wait_s += wait if rate_limited else 0.0
            if error:
                self.errors[error] = self.errors.get(error, 0) + 1


def call_with_retries(call: Callable[[], T], *, service: str, policy: RetryPolicy, stats: CallStats,
                      rng: random.Random | None = None) -> T:
    """Run `call`, retrying what is worth retrying."""
    rng = rng or _JITTER  # seeding a new generator per call cost more than the call's own parsing
    stats.count()
    for attempt in range(1, policy.max_attempts + 1):
        try:
            return call()
        except ProviderRateLimited as exc:
            if exc.problem == "day":
                raise DailyLimitReached(service, exc.retry_after or 86_400) from exc
            wait, limited, error = policy.rate_limit_wait(exc.retry_after, attempt, rng), True, exc
        except NangoRateLimited as exc:
            wait, limited, error = policy.rate_limit_wait(exc.retry_after, attempt, rng), True, exc
        except NangoError as exc:
            if not exc.retryable:
                raise
            wait, limited, error = policy.backoff(attempt, rng), False, exc
        stats.count(error=type(error).__name__)
        if attempt == policy.max_attempts or wait > policy.max_retry_after:
            raise RetriesExhausted(f"{service}: gave up after {attempt} attempts: {error}") from error
        stats.count(retry=True, wait=wait, rate_limited=limited)
        policy.sleep(wait)
    raise AssertionError("unreachable")
