"""Sandbox-test fixtures: one sandbox per module for tests that only read the world."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from sandbox import Sandbox, SandboxConfig
from tests.conftest import NOW, RunningSandbox


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[Callable[..., RunningSandbox]]:
    """Like `make_sandbox`, but the sandboxes live for the whole module (read-only tests share them)."""
    running: list[RunningSandbox] = []

    def start(**overrides) -> RunningSandbox:
        config = SandboxConfig(**{"seed": 7, "users": 2, "now": NOW, "nango_retry_scale": 0.0,
                                  "webhook_backoff_scale": 0.01, **overrides})
        sandbox = Sandbox(config)
        running.append(RunningSandbox(sandbox, sandbox.serve()))
        return running[-1]

    yield start
    for item in running:
        item.close()
