"""Rate limits as the real services enforce them (reference/providers.md §1.5, §2.5, §3.6; nango.md §8).

Windows run on the wall clock (they are about request rates, not about the data's virtual time).
`LimitConfig(enabled=False)` turns provider limits off for tests that sync the same world many
times a minute; Nango's own account limit is off unless `nango_per_minute` is set, as on a
self-hosted Nango.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass

from pydantic import BaseModel

GMAIL_UNITS = {"getProfile": 1, "labels.list": 1, "history.list": 2, "messages.list": 5, "messages.get": 5,
               "threads.list": 10, "threads.get": 10}


class LimitConfig(BaseModel):
    enabled: bool = True
    nango_per_minute: int = 0
    gmail_units_per_minute: int = 15_000
    asana_per_minute: int = 1_500
    asana_concurrent_reads: int = 50
    xero_per_minute: int = 60
    xero_per_day: int = 5_000
    xero_concurrent: int = 5
    xero_app_per_minute: int = 10_000


class SlidingWindow:
    """Cost spent per key over the last `window` seconds."""

    def __init__(self, window: float):
        self.window = window
        self._spent: dict[str, deque[tuple[float, int]]] = {}
        self._totals: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, key: str, cost: int, limit: int, now: float | None = None) -> float | None:
        """Spend cost if it fits under limit; otherwise return seconds until it would."""
        now = time.monotonic() if now is None else now
        with self._lock:
            spent = self._spent.setdefault(key, deque())
            total = self._totals.get(key, 0)
            while spent and spent[0][0] <= now - self.window:
                total -= spent.popleft()[1]
            if total + cost > limit:
                self._totals[key] = total
                return max(0.0, spent[0][0] + self.window - now) if spent else self.window
            spent.append((now, cost))
            self._totals[key] = total + cost
            return None

    def remaining(self, key: str, limit: int) -> int:
        with self._lock:
            return max(0, limit - self._totals.get(key, 0))

    def set_spent(self, key: str, amount: int) -> None:
        with self._lock:
            self._spent[key] = deque([(time.monotonic(), amount)])
            self._totals[key] = amount


class Concurrency:
    def __init__(self) -> None:
        self._active: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, key: str, limit: int):
        """Yield True while holding one of `limit` slots for key, or False when all are taken."""
        with self._lock:
            granted = self._active.get(key, 0) < limit
            if granted:
                self._active[key] = self._active.get(key, 0) + 1
        try:
            yield granted
        finally:
            if granted:
                with self._lock:
                    self._active[key] -= 1


@dataclass
class Verdict:
    """A limit's answer: `retry_after` is None when the call may proceed."""

    retry_after: float | None
    problem: str = ""

    @property
    def seconds(self) -> int:
        return max(0, math.ceil(self.retry_after or 0))


class Limits:
    def __init__(self, config: LimitConfig | None = None):
        self.config = config or LimitConfig()
        self.minute = SlidingWindow(60)
        self.day = SlidingWindow(86_400)
        self.concurrency = Concurrency()
        self.nango_window_start = time.time()

    def nango(self, account: str) -> tuple[Verdict, dict[str, str]]:
        """Nango's per-account fixed 60 s window; headers on every response when enabled."""
        limit = self.config.nango_per_minute
        if not limit:
            return Verdict(None), {}
        verdict = Verdict(self.minute.take(f"nango:{account}", 1, limit))
        reset = int(time.time()) + (verdict.seconds or 60)
        headers = {"X-RateLimit-Limit": str(limit),
                   "X-RateLimit-Remaining": str(self.minute.remaining(f"nango:{account}", limit)),
                   "X-RateLimit-Reset": str(reset)}
        return verdict, headers

    def gmail(self, mailbox: str, method: str) -> Verdict:
        if not self.config.enabled:
            return Verdict(None)
        cost = GMAIL_UNITS.get(method, 5)
        return Verdict(self.minute.take(f"gmail:{mailbox}", cost, self.config.gmail_units_per_minute))

    def asana(self, token: str) -> Verdict:
        if not self.config.enabled:
            return Verdict(None)
        return Verdict(self.minute.take(f"asana:{token}", 1, self.config.asana_per_minute))

    def xero(self, tenant: str) -> Verdict:
        """Check Xero's day, minute and app-minute budgets, in the order Xero reports them."""
        if not self.config.enabled:
            return Verdict(None)
        day = self.day.take(f"xero-day:{tenant}", 1, self.config.xero_per_day)
        if day is not None:
            return Verdict(day, "day")
        minute = self.minute.take(f"xero:{tenant}", 1, self.config.xero_per_minute)
        if minute is not None:
            return Verdict(minute, "minute")
        app = self.minute.take("xero-app", 1, self.config.xero_app_per_minute)
        return Verdict(app, "appminute") if app is not None else Verdict(None)

    def xero_headers(self, tenant: str) -> dict[str, str]:
        return {
            "X-DayLimit-Remaining": str(self.day.remaining(f"xero-day:{tenant}", self.config.xero_per_day)),
            "X-MinLimit-Remaining": str(self.minute.remaining(f"xero:{tenant}", self.config.xero_per_minute)),
            "X-AppMinLimit-Remaining": str(self.minute.remaining("xero-app", self.config.xero_app_per_minute)),
        }

    def set_xero_day_remaining(self, tenant: str, remaining: int) -> None:
        self.day.set_spent(f"xero-day:{tenant}", max(0, self.config.xero_per_day - remaining))
