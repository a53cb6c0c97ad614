"""Production serving: gunicorn with the repository's config, and `sylo serve`, as real processes."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}: {process.stderr.read()}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not become healthy")


def worker_count(process: subprocess.Popen | psutil.Process, expected: int, seconds: float = 20) -> int:
    """Workers boot one after another: wait until `expected` are up (or time runs out)."""
    deadline = time.monotonic() + seconds
    while (count := len(psutil.Process(process.pid).children())) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return count


def gunicorn_master(process: subprocess.Popen) -> psutil.Process:
    [master] = [child for child in psutil.Process(process.pid).children() if "gunicorn" in " ".join(child.cmdline())]
    return master


@pytest.fixture
def serve(deployment):
    started: list[subprocess.Popen] = []

    def start(args: list[str]) -> subprocess.Popen:
        env = {**os.environ, "SYLO_DATA_DIR": str(deployment.settings.data_dir), "SYLO_LOG_LEVEL": "WARNING"}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def test_gunicorn_serves_the_app_with_its_config(serve, deployment):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = serve([str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "api:create_app()"])
    wait_healthy(url, process)
    assert worker_count(process, 2) == 2  # SYLO_API_WORKERS' default, from gunicorn.conf.py
    alice = deployment.users[0]
    with httpx.Client(base_url=url, headers=deployment.headers(alice)) as client:
        for _ in range(40):
            assert client.get("/v1/context/all.md").status_code == 200
        metrics = client.get("/metrics").text
        chunks = iter([b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "'] + [b"x" * 65536] * 20
                      + [b'"}}'])  # 1.25 MiB without a Content-Length: the limit must still hold
        too_large = client.post("/mcp", content=chunks, headers={"Content-Type": "application/json"})
        assert too_large.status_code == 413 and too_large.json()["error"]["code"] == -32600
    served = re.search(r'sylo_http_requests_total\{method="GET",route="/v1/context/<name>",status="200"\} (\S+)',
                       metrics)
    assert served and float(served.group(1)) == 40.0  # summed over every worker
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def test_sylo_serve_starts_gunicorn_with_the_requested_workers(serve, deployment):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = serve([str(BIN / "sylo"), "serve", "--port", str(port), "--workers", "3"])
    wait_healthy(url, process)
    master = gunicorn_master(process)
    assert worker_count(master, 3) == 3
    workers = psutil.Process(process.pid).children(recursive=True)
    commands = [" ".join(child.cmdline()) for child in psutil.Process(process.pid).children()]
    assert any(command.endswith("cli worker") for command in commands)  # the embedded outbox worker
    response = httpx.post(url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                          headers=deployment.headers(deployment.users[1]))
    assert response.json() == {"jsonrpc": "2.0", "id": 1, "result": {}}
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert all(not child.is_running() for child in [master, *workers])
