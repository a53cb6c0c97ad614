"""Exponential backoff with jitter: one rule for retrying Nango calls and n8n deliveries."""

from __future__ import annotations

import random


def exponential(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """`base` doubling per attempt up to `cap`, with equal jitter: half the wait fixed, half random
    (spreads a fleet's retries without ever retrying at once)."""
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
