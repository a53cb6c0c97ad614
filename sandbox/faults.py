"""Faults on demand: each proxied call may be answered by a fault instead of the provider.

Two ways to ask: a `rate` per service with weighted `kinds` (random, from a seeded generator),
and `scripted` faults that hit the next N calls whose path contains a substring. Scripted
faults go first, so a test can say exactly "the next Xero invoices page is malformed".
"""

from __future__ import annotations

import random
import threading

from pydantic import BaseModel, Field

from sylo.services import NAMES

SERVICES = NAMES

# What happens before the provider answers.
BEFORE = ("rate_limit", "rate_limit_zero", "nango_rate_limit", "server_error", "timeout", "reset", "expired_cursor")
# What corrupts a successful provider answer.
AFTER = ("malformed_json", "bad_record")
KINDS = BEFORE + AFTER

# Transient faults a well-behaved client must ride out; the default mix when only a rate is given.
TRANSIENT = {"rate_limit": 3, "rate_limit_zero": 2, "nango_rate_limit": 1, "server_error": 3, "timeout": 1, "reset": 2}


class ScriptedFault(BaseModel):
    service: str = Field(pattern="^(gmail|asana|xero)$")
    kind: str
    path: str = ""
    times: int = Field(1, ge=1)


class FaultConfig(BaseModel):
    rates: dict[str, float] = Field(default_factory=dict)
    kinds: dict[str, dict[str, float]] = Field(default_factory=dict)
    scripted: list[ScriptedFault] = Field(default_factory=list)
    retry_after: int = Field(1, ge=0, description="Retry-After seconds on injected rate-limit answers")
    timeout_seconds: float = Field(5.0, ge=0, description="How long a `timeout` fault hangs before answering")
    seed: int = 0

    def model_post_init(self, _context: object) -> None:
        for service in list(self.rates) + list(self.kinds):
            if service not in SERVICES:
                raise ValueError(f"unknown service {service!r}; expected one of {SERVICES}")
        for table in self.kinds.values():
            for kind in table:
                if kind not in KINDS:
                    raise ValueError(f"unknown fault kind {kind!r}; expected one of {KINDS}")
        for fault in self.scripted:
            if fault.kind not in KINDS:
                raise ValueError(f"unknown fault kind {fault.kind!r}; expected one of {KINDS}")


class Faults:
    """Draws the fault (if any) for each proxied call; thread-safe."""

    def __init__(self, config: FaultConfig | None = None):
        self._lock = threading.Lock()
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self.config = config
            self._rng = random.Random(config.seed)
            self._scripted = [fault.model_copy() for fault in config.scripted]
            self.injected: dict[str, int] = {}

    def draw(self, service: str, path: str, applicable: set[str]) -> str | None:
        """Pick this call's fault among the applicable kinds, or None."""
        with self._lock:
            for fault in self._scripted:
                if fault.service == service and fault.path in path and fault.kind in applicable and fault.times > 0:
                    fault.times -= 1
                    return self._count(fault.kind)
            rate = self.config.rates.get(service, 0.0)
            if rate <= 0 or self._rng.random() >= rate:
                return None
            table = {k: w for k, w in self.config.kinds.get(service, TRANSIENT).items() if k in applicable and w > 0}
            if not table:
                return None
            return self._count(self._rng.choices(list(table), list(table.values()))[0])

    def _count(self, kind: str) -> str:
        self.injected[kind] = self.injected.get(kind, 0) + 1
        return kind
