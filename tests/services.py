"""Real Postgres and Redis for tests: use them, start them if installed but stopped, else skip loudly.

With CI=true a missing service fails the run instead of skipping.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time

import pytest

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
MISSING: list[str] = []


def reachable(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _start_postgres() -> None:
    if shutil.which("pg_ctlcluster"):
        for version_dir in sorted(glob.glob("/etc/postgresql/*")):
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", os.path.basename(version_dir), "main", "start"],
                           check=False, capture_output=True, timeout=60)


def _start_redis() -> None:
    if shutil.which("redis-server"):
        subprocess.run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379",
                        "--save", "", "--appendonly", "no"], check=False, capture_output=True, timeout=30)


def require(name: str, port: int) -> None:
    """Make sure a service answers on port, starting it if we can; skip or fail if not."""
    if reachable(port):
        return
    (_start_postgres if name == "postgres" else _start_redis)()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if reachable(port):
            return
        time.sleep(0.3)
    message = f"{name} is not reachable on 127.0.0.1:{port} and could not be started"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: a missing service fails the run)", pytrace=False)
    if message not in MISSING:
        MISSING.append(message)
    pytest.skip(message)
