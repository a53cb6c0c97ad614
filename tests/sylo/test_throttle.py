"""The in-process moving window behind every Throttle without Redis."""

from __future__ import annotations

import threading

import pytest

from sylo import throttle
from sylo.throttle import LocalMovingWindow, Throttle


@pytest.fixture
def clock(monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(throttle.time, "time", lambda: now[0])
    return now


def test_a_key_gets_its_limit_per_window_and_the_time_until_the_oldest_expires(clock):
    limit = Throttle.per_minute("commands", 3)
    assert limit.hit("alice") is None
    clock[0] += 10
    assert [limit.hit("alice") for _ in range(2)] == [None, None]
    clock[0] += 10
    assert limit.hit("alice") == 40  # the first leaves the window 60 s after it came
    assert limit.blocked("alice") == 40
    assert limit.hit("bob") is None  # every key counts on its own
    clock[0] += 40
    assert limit.blocked("alice") is None
    assert limit.hit("alice") is None
    assert limit.hit("alice") == 10  # the next two leave 10 s later


def test_a_refused_hit_is_not_counted(clock):
    window, item = LocalMovingWindow(), throttle.parse("2/minute")
    assert [window.hit(item, "t", "k") for _ in range(4)] == [True, True, False, False]
    assert window.get_window_stats(item, "t", "k").remaining == 0
    clock[0] += 61
    assert window.get_window_stats(item, "t", "k").remaining == 2


def test_idle_keys_are_forgotten_once_there_are_many(clock, monkeypatch):
    monkeypatch.setattr(LocalMovingWindow, "SWEEP_KEYS", 10)
    window, item = LocalMovingWindow(), throttle.parse("5/minute")
    for n in range(10):
        window.hit(item, "t", f"address-{n}")
    clock[0] += 61
    window.hit(item, "t", "fresh")
    assert list(window._events) == [item.key_for("t", "fresh")]


def test_concurrent_hits_never_exceed_the_limit(clock):
    limit, allowed = Throttle.per_minute("commands", 50), []
    start = threading.Barrier(8)

    def hammer() -> None:
        start.wait()
        allowed.extend(n for n in range(40) if limit.hit("alice") is None)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 50
