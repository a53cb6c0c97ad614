"""Delivery under stress: every accepted command reaches n8n exactly once, whatever n8n or the API's
processes do in between. n8n is the sandbox's stand-in (as its own process where it has to die),
Redis and the app DB are real, and the API runs under gunicorn where processes must share state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import func, select

from sylo.appdb import AppDB
from sylo.appdb.schema import commands
from sylo.commands import build_worker, delivery
from sylo.commands.outbox import PENDING, Outbox
from sylo.commands.signing import sign
from sylo.keyring import Keyring, generate_entry
from sylo.settings import Settings
from tests.api.test_commands import N8N_AUTH, TASK, make_studio
from tests.api.test_gunicorn import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any SYLO_* of the caller's, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYLO_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    return {**env, "SYLO_LOG_LEVEL": "WARNING", **settings}


class SandboxProcess:
    """`sylo sandbox` on a fixed port, so it can be stopped and started again at the same address."""

    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}"
        self.port, self.process = port, None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(BIN / "sylo"), "sandbox", "--port", str(self.port), "--users", "0", "--seed", "1"],
            cwd=ROOT, env=clean_env(SYLO_N8N_AUTH_VALUE=N8N_AUTH), stdout=subprocess.PIPE, text=True)
        assert "Sylo sandbox on" in self.process.stdout.readline()

    def calls(self) -> list[dict]:
        return httpx.get(self.url + "/_sandbox/n8n/calls", timeout=30).json()["calls"]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture
def sandbox_process():
    process = SandboxProcess(free_port())
    process.start()
    yield process
    process.stop()


@contextmanager
def running(worker):
    """The outbox worker in a background thread, as `sylo worker` runs it."""
    thread = threading.Thread(target=worker.run, name="outbox-worker", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=30)


def wait_settled(outbox: Outbox, seconds: float) -> dict[str, int]:
    """Wait until no command is queued or being delivered; the outbox's counts by status."""
    deadline = time.monotonic() + seconds
    while any(outbox.counts().get(status) for status in PENDING) and time.monotonic() < deadline:
        time.sleep(0.05)
    return outbox.counts()


def accept(studio, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        response = studio.send("alice", TASK)
        assert response.status_code == 202, response.get_data(as_text=True)
        ids.append(response.get_json()["id"])
    return ids


def successes(calls: list[dict]) -> Counter:
    return Counter(c["body"]["id"] for c in calls if c["status"] and c["status"] < 300)


@pytest.mark.slow
def test_no_command_is_lost_or_doubled_across_an_n8n_outage(make_sandbox, tmp_path, sandbox_process):
    # make_studio's in-process sandbox stays idle: n8n here is the process, so it can really go away.
    studio = make_studio(make_sandbox, tmp_path, command_wait_seconds=0, n8n_url=sandbox_process.url)
    outbox = Outbox(studio.appdb.engine)
    with running(build_worker(studio.settings, studio.appdb, poll_seconds=0.05)):
        before = accept(studio, 10)
        assert wait_settled(outbox, 20) == {"delivered": 10}
        cut = in_flight_when_n8n_dies(studio, sandbox_process)
        first_life = sandbox_process.calls()
        sandbox_process.stop()
        during = accept(studio, 10)
        time.sleep(1.5)  # long enough for every command to fail at least once against a closed port
        stranded = [outbox.get(command_id) for command_id in during]
        assert all(c.status in PENDING for c in stranded)
        assert all(c.attempts >= 1 and "could not reach n8n" in c.last_error for c in stranded if c.status == "queued")
        sandbox_process.start()
        after = accept(studio, 10)
        assert wait_settled(outbox, 30) == {"delivered": 31}
    second_life = sandbox_process.calls()
    assert successes(first_life) == Counter(before)
    assert successes(second_life) == Counter([cut, *during, *after])
    assert max(outbox.get(command_id).attempts for command_id in during) >= 2  # really retried through the outage
    # The one cut off mid-flight reached n8n twice and was answered once: why it carries an Idempotency-Key.
    assert [c["status"] for c in first_life if c["body"]["id"] == cut] == [None]
    assert {e.kind for e in studio.audit("alice")} >= {"command.retry", "command.delivered"}


def in_flight_when_n8n_dies(studio, sandbox_process) -> str:
    """A command whose delivery n8n has received but not answered yet (a slow workflow); its id."""
    slow = httpx.put(sandbox_process.url + "/_sandbox/n8n/workflows/sylo-commands", json={"delay_seconds": 60})
    slow.raise_for_status()
    [command_id] = accept(studio, 1)
    deadline = time.monotonic() + 10
    while command_id not in {c["body"]["id"] for c in sandbox_process.calls()} and time.monotonic() < deadline:
        time.sleep(0.05)
    return command_id


def test_random_5xx_are_retried_until_each_command_is_delivered_exactly_once(make_sandbox, tmp_path, monkeypatch):
    # The real schedule (0.5 s, doubling) at a tenth of the time: six failures in a row cost 3 s, not 30.
    real_backoff = delivery.backoff
    monkeypatch.setattr(delivery, "backoff", lambda *args: real_backoff(*args) / 10)
    studio = make_studio(make_sandbox, tmp_path, command_wait_seconds=0)
    studio.sandbox.admin.put("/n8n/workflows/sylo-commands", json={"fail_rate": 0.4})
    outbox = Outbox(studio.appdb.engine)
    ids = accept(studio, 40)
    with running(build_worker(studio.settings, studio.appdb, poll_seconds=0.05)):
        assert wait_settled(outbox, 30) == {"delivered": 40}
    calls = studio.n8n_calls()
    assert successes(calls) == Counter(ids)
    failed = Counter(c["body"]["id"] for c in calls if c["status"] >= 500)
    assert failed and len(calls) == 40 + sum(failed.values()) > 40
    for command_id in ids:  # every failure was followed by exactly one more attempt, and the last one worked
        assert outbox.get(command_id).attempts == failed[command_id] + 1


def test_two_workers_send_each_command_once_when_n8n_is_slower_than_a_lease(make_sandbox, tmp_path):
    """Issue 14.9: a worker that claimed more than it was sending let leases lapse on commands still
    waiting their turn, and the other worker sent them too. Here every delivery outlasts the lease
    (4 s against 3 s), so only leases kept alive while in flight keep the second worker off them."""
    studio = make_studio(make_sandbox, tmp_path, command_wait_seconds=0, worker_concurrency=2)
    studio.sandbox.admin.put("/n8n/workflows/sylo-commands", json={"delay_seconds": 4})
    ids = accept(studio, 8)
    outbox = Outbox(studio.appdb.engine)
    workers = [build_worker(studio.settings, studio.appdb, lease=timedelta(seconds=3), poll_seconds=0.05)
               for _ in range(2)]
    with running(workers[0]), running(workers[1]):
        assert wait_settled(outbox, 120) == {"delivered": 8}
    assert Counter(c["body"]["id"] for c in studio.n8n_calls()) == Counter(ids)  # each reached n8n once
    assert {outbox.get(command_id).attempts for command_id in ids} == {1}


def signed(secret: str, body: bytes, message_id: str | None = None) -> dict[str, str]:
    return {**sign(secret, message_id or f"msg_{uuid.uuid4().hex}", body), "Content-Type": "application/json"}


class Connections:
    """Keep-alive connections to gunicorn, a few per worker process.

    A connection stays with the worker that accepted it, and which one that is only shows in the
    access log (pid and our X-Connection header), so connections are opened until each worker holds
    some. Spreading a burst over them makes both processes answer it, every time.
    """

    def __init__(self, url: str, log: Path):
        self.url, self.log = url, log
        self.by_worker: dict[str, list[httpx.Client]] = {}

    def open(self, workers: int = 2, each: int = 3, seconds: float = 30) -> None:
        deadline, number = time.monotonic() + seconds, 0
        while time.monotonic() < deadline and not (len(self.by_worker) == workers
                                                   and all(len(c) >= each for c in self.by_worker.values())):
            number += 1
            client = httpx.Client(base_url=self.url, headers={"X-Connection": str(number)}, timeout=30,
                                  limits=httpx.Limits(max_connections=1))
            client.get("/healthz").raise_for_status()
            self.by_worker.setdefault(self.worker_of(number), []).append(client)
        assert len(self.by_worker) == workers, f"connections reached only {list(self.by_worker)}"

    def worker_of(self, number: int) -> str:
        """The pid that served connection `number` (gunicorn logs just after it answers)."""
        for _ in range(100):
            for pid, _method, _path, _status, connection in self.served():
                if connection == str(number):
                    return pid
            time.sleep(0.02)
        raise AssertionError(f"connection {number} is not in the access log")

    def served(self) -> list[list[str]]:
        return [line.split() for line in self.log.read_text().splitlines()]

    def post_together(self, requests: list[tuple[bytes, dict]]) -> list[httpx.Response]:
        """Deal the requests round the connections, alternating workers, and send them all at once."""
        clients = [c for group in zip(*self.by_worker.values()) for c in group]
        shares = [requests[i::len(clients)] for i in range(len(clients))]
        start = threading.Barrier(len(clients))

        def send(client: httpx.Client, share: list) -> list[httpx.Response]:
            start.wait()
            return [client.post("/v1/commands", content=body, headers=headers) for body, headers in share]

        with ThreadPoolExecutor(len(clients)) as pool:
            return [r for answers in pool.map(send, clients, shares) for r in answers]

    def close(self) -> None:
        for client in (c for group in self.by_worker.values() for c in group):
            client.close()


@pytest.fixture
def gunicorn_commands(tmp_path, redis_url):
    """gunicorn with two workers over one prepared app DB, sharing Redis; yields (connections, secrets, appdb)."""
    run = uuid.uuid4().hex[:10]
    keys = generate_entry()
    settings = Settings(_env_file=None, data_dir=tmp_path, encryption_keys=keys)
    appdb = AppDB.from_settings(settings)
    appdb.migrate()
    keyring = Keyring.from_settings(settings)
    secrets = {}
    for name in ("carol", "dave"):
        user_id = f"{name}-{run}"  # unique, so this run's Redis keys are its own
        secrets[user_id] = appdb.create_user_with_credentials(user_id, f"{user_id}@studio.example",
                                                              keyring).signing_secret
    port, log = free_port(), tmp_path / "access.log"
    env = clean_env(SYLO_DATA_DIR=str(tmp_path), SYLO_ENCRYPTION_KEYS=keys, SYLO_REDIS_URL=redis_url,
                    SYLO_COMMAND_RATE_LIMIT="10", SYLO_COMMAND_WAIT_SECONDS="0")
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "python:sylo.gunicorn_conf", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--access-logfile", str(log), "--access-logformat", "%(p)s %(m)s %(U)s %(s)s %({x-connection}i)s",
         "api:create_app()"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    connections = Connections(f"http://127.0.0.1:{port}", log)
    try:
        wait_healthy(connections.url, process)
        connections.open()
        yield connections, secrets, appdb
    finally:
        connections.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        appdb.close()
        client = redis.Redis.from_url(redis_url)
        stale = list(client.scan_iter(match=f"*{run}*"))
        if stale:
            client.delete(*stale)


def stored(appdb: AppDB, user_id: str) -> int:
    with appdb.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(commands).where(commands.c.user_id == user_id)).scalar()


@pytest.mark.slow
@pytest.mark.redis
def test_two_gunicorn_workers_share_the_rate_limit_and_replay_protection(gunicorn_commands):
    connections, secrets, appdb = gunicorn_commands
    carol, dave = secrets
    body = json.dumps(TASK).encode()
    burst = connections.post_together([(body, signed(secrets[carol], body)) for _ in range(25)])
    assert Counter(r.status_code for r in burst) == {202: 10, 429: 15}
    assert all(1 <= int(r.headers["Retry-After"]) <= 60 for r in burst if r.status_code == 429)
    assert stored(appdb, carol) == 10

    once = signed(secrets[dave], body, message_id="msg_sent_ten_times")
    replays = connections.post_together([(body, once)] * 10)
    assert all(r.status_code in (200, 202) for r in replays), [r.text for r in replays]
    assert len({r.json()["id"] for r in replays}) == 1
    assert sum(r.json().get("replayed", False) for r in replays) == 9
    assert stored(appdb, dave) == 1

    answered = Counter(pid for pid, method, path, *_ in connections.served() if method == "POST")
    assert set(answered) == set(connections.by_worker) and min(answered.values()) >= 10, answered  # both took part
