"""A running production deployment as the tests see it: its processes, Dagster instance, warehouse and sandbox."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import httpx
import pytest

from deploy import prod
from pipelines.warehouse import Warehouse, open_warehouse
from sylo.export_layout import ExportLayout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(check: Callable[[], object], what: str, seconds: float = 180, every: float = 0.5):
    """Poll until check() returns something truthy; return it, or fail saying what never happened."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(every)
    pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}")


class Production:
    """A running deployment and the handles a test needs: the Dagster instance, the warehouse, the sandbox."""

    def __init__(self, deployment: prod.Deployment, env: dict[str, str], instance: dg.DagsterInstance):
        self.deployment, self.env, self.instance = deployment, env, instance
        self.sandbox_url = env["SYLO_NANGO_URL"]
        self.nango = httpx.Client(base_url=self.sandbox_url, timeout=30,
                                  headers={"Authorization": f"Bearer {env['SYLO_NANGO_SECRET_KEY']}"})
        self.admin = httpx.Client(base_url=self.sandbox_url + "/_sandbox", timeout=60)
        self.exports = ExportLayout(Path(env["SYLO_DATA_DIR"]) / "exports")
        self.warehouse: Warehouse = open_warehouse(env["SYLO_WAREHOUSE_URL"], Path(env["SYLO_DATA_DIR"]))
        self.old_sessions: list[int] = []  # sessions of daemons killed one process at a time

    def runs(self, user_id: str) -> list[dg.DagsterRun]:
        return list(self.instance.get_runs(dg.RunsFilter(tags={"sylo/user": user_id})))

    def daemon_pid(self) -> int:
        return prod.pid_of(self.deployment, "dagster-daemon")

    def kill_daemon(self, *, whole_group: bool) -> None:
        """SIGKILL the daemon (with its code server and run workers, if whole_group), then start it again."""
        pid = self.daemon_pid()
        if whole_group:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
            self.old_sessions.append(pid)  # its code server lives on to finish the run, then exits
        try:
            os.waitpid(pid, 0)  # this process started it: collect it, or it lingers as a zombie
        except ChildProcessError:
            pass
        prod.start(self.deployment, self.env, "dagster-daemon")

    def close(self) -> None:
        for name in self.deployment.processes:  # nothing to keep: no need to wait for a graceful stop
            if prod.pid_of(self.deployment, name):
                prod.stop(self.deployment, name, signal.SIGKILL)
        for session in self.old_sessions:
            try:
                os.killpg(session, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.nango.close()
        self.admin.close()
        self.warehouse.close()
        self.instance.dispose()
