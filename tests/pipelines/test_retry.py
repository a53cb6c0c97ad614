"""Retry policy: Retry-After honoured (0 is a floor, not a storm), backoff grows, day limits stop."""

from __future__ import annotations

import random

import httpx
import pytest

from sylo.nango.client import NangoAuthError, NangoRateLimited, ProviderError, ProviderRateLimited, ProviderServerError
from pipelines.sync.retry import CallStats, DailyLimitReached, RetriesExhausted, RetryPolicy, call_with_retries


def failing(errors: list[Exception], result: str = "done"):
    calls = {"n": 0}

    def call():
        calls["n"] += 1
        if errors:
            raise errors.pop(0)
        return result

    return call, calls


def limited(seconds: str | None, problem: str = "") -> ProviderRateLimited:
    headers = httpx.Headers({**({"Retry-After": seconds} if seconds is not None else {}),
                             **({"X-Rate-Limit-Problem": problem} if problem else {})})
    return ProviderRateLimited("rate limited", status=429, headers=headers)


def run(errors, policy: RetryPolicy, stats: CallStats | None = None):
    waits: list[float] = []
    policy = RetryPolicy(**{**policy.__dict__, "sleep": waits.append})
    call, calls = failing(errors)
    result = call_with_retries(call, service="xero", policy=policy, stats=stats or CallStats(), rng=random.Random(1))
    return result, calls["n"], waits


def test_retry_after_is_honoured():
    result, calls, waits = run([limited("7")], RetryPolicy())
    assert (result, calls) == ("done", 2)
    assert 7 <= waits[0] <= 7 + RetryPolicy().min_retry_after


def test_retry_after_zero_still_waits_a_floor():
    _, _, waits = run([limited("0"), limited("0"), limited("0")], RetryPolicy(min_retry_after=0.5))
    assert all(0.5 <= w <= 1.0 for w in waits)


def test_nango_429_is_retried_with_its_retry_after():
    stats = CallStats()
    _, _, waits = run([NangoRateLimited("nango", 3.0)], RetryPolicy(), stats)
    assert waits[0] >= 3 and stats.rate_limited == 1 and stats.rate_limit_wait_s >= 3


def test_server_errors_back_off_exponentially_with_jitter():
    errors = [ProviderServerError("boom", status=503) for _ in range(5)]
    _, calls, waits = run(errors, RetryPolicy(base_delay=1.0, max_delay=100))
    assert calls == 6
    for attempt, wait in enumerate(waits, start=1):
        ceiling = 2 ** (attempt - 1)
        assert ceiling / 2 <= wait <= ceiling


def test_xero_day_limit_is_not_retried():
    with pytest.raises(DailyLimitReached, match="paused until"):
        run([limited("66975", "day")], RetryPolicy())


def test_client_errors_are_not_retried():
    with pytest.raises(ProviderError):
        run([ProviderError("forbidden", status=403)], RetryPolicy())
    with pytest.raises(NangoAuthError):
        run([NangoAuthError("bad key", status=401)], RetryPolicy())


def test_gives_up_after_max_attempts_with_the_last_error():
    errors = [ProviderServerError("still down", status=500) for _ in range(10)]
    with pytest.raises(RetriesExhausted, match="still down"):
        run(errors, RetryPolicy(max_attempts=3))


def test_a_wait_longer_than_allowed_fails_now():
    with pytest.raises(RetriesExhausted):
        run([limited("3600")], RetryPolicy(max_retry_after=120))
