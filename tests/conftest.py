"""Shared fixtures: real services, a sandbox on a free port, an isolated Sylo data dir."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

import httpx
import psycopg
import pytest

from sandbox import Sandbox, SandboxConfig
from sandbox.server import ServerThread
from tests import services

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)


def pytest_terminal_summary(terminalreporter) -> None:
    for message in services.MISSING:
        terminalreporter.write_line(f"SERVICE MISSING, TESTS SKIPPED: {message}", red=True, bold=True)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    services.require("postgres", 5432)
    return services.POSTGRES_URL


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """A throwaway database on the real Postgres server, dropped afterwards."""
    name = f"sylo_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield postgres_url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url() -> str:
    services.require("redis", 6379)
    return services.REDIS_URL


class RunningSandbox:
    """A served sandbox plus a Nango-authenticated client and admin helpers."""

    def __init__(self, sandbox: Sandbox, server: ServerThread):
        self.sandbox, self.server = sandbox, server
        self.url = server.url
        self.secret_key = sandbox.config.secret_key
        self.nango = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.secret_key}"}, timeout=30)
        self.admin = httpx.Client(base_url=self.url + "/_sandbox", timeout=60)

    def user_ids(self) -> list[str]:
        return [u["user_id"] for u in self.admin.get("").json()["users"]]

    def connection(self, user_id: str, integration: str) -> str:
        users = {u["user_id"]: u for u in self.admin.get("").json()["users"]}
        return users[user_id]["connections"][integration]

    def close(self) -> None:
        self.nango.close()
        self.admin.close()
        self.server.stop()
        self.sandbox.close()


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., RunningSandbox]]:
    """Start sandboxes on free ports; `make_sandbox(users=2, seed=5)`. All stop at teardown."""
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


@pytest.fixture
def sandbox(make_sandbox) -> RunningSandbox:
    return make_sandbox()
