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


def test_keep_alive_connections_are_spread_over_every_worker(serve, deployment):
    """Each worker has its own SO_REUSEPORT socket, so the kernel spreads connections: one eager
    worker can no longer take every connection of a client that opens them all at once."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = serve([str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2", "api:create_app()"])
    wait_healthy(url, process)
    master = psutil.Process(process.pid)
    assert worker_count(process, 2) == 2
    clients = [httpx.Client(base_url=url, headers=deployment.headers(deployment.users[0])) for _ in range(16)]
    try:
        for client in clients:  # 16 keep-alive connections, opened together as a load generator does
            assert client.get("/v1/context/all.md").status_code == 200
        held = {worker.pid: len([c for c in worker.net_connections("tcp") if c.laddr.port == port
                                 and c.status == psutil.CONN_ESTABLISHED]) for worker in master.children()}
    finally:
        for client in clients:
            client.close()
    assert sum(held.values()) == 16 and all(held.values()), held  # all on one worker: p = 2 × 0.5^16
    # What spreads them under load: a listening socket per worker (a shared one would be one inode).
    listening = {worker.pid: listening_socket(worker.pid, port) for worker in master.children()}
    assert len(set(listening.values())) == 2 and None not in listening.values(), listening


def listening_socket(pid: int, port: int) -> str | None:
    """The inode of the socket a process listens on at `port` (from /proc, as `ss -lp` reads it)."""
    inodes = {line.split()[9] for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
              if line.split()[3] == "0A" and int(line.split()[1].split(":")[1], 16) == port}
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return target[8:-1]
    return None
