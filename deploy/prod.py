"""Production mode on one machine: `make prod-up` / `make prod-down` (or `python deploy/prod.py up|down|status`).

Separate processes, as on a real deployment: dagster-webserver, dagster-daemon, gunicorn (the
API and dashboard), the outbox worker; Postgres holds the warehouse, the app DB and the Dagster
instance (dagster-postgres), Redis the API's shared state. Without SYLO_NANGO_URL a `sylo
sandbox` process stands in for Nango, Gmail, Asana, Xero and n8n.

Everything lives under `.sylo/prod/`: `env` (the generated settings: keep it, it holds the
encryption key), `dagster/` (DAGSTER_HOME), `logs/` and `pids/`. Tests and benchmarks build a
`Deployment` of their own (a temporary home, throwaway databases, free ports).
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
POSTGRES = os.environ.get("SYLO_PROD_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
DATABASES = {"SYLO_WAREHOUSE_URL": "sylo_warehouse", "SYLO_APP_DB_URL": "sylo_app", "DAGSTER_PG_URL": "sylo_dagster"}
POOLS = {"nango": 4}  # see deploy/dagster.yaml
PORTS = {"api": 8000, "dagster": 3000, "sandbox": 3003}
PROCESSES = ("sandbox", "dagster-daemon", "dagster-webserver", "api", "outbox-worker")


@dataclass(frozen=True)
class Deployment:
    """Where a deployment keeps its state, which databases and ports it uses, which processes it runs."""

    home: Path = ROOT / ".sylo" / "prod"
    postgres: str = POSTGRES
    databases: dict[str, str] = field(default_factory=lambda: dict(DATABASES))
    ports: dict[str, int] = field(default_factory=lambda: dict(PORTS))
    processes: tuple[str, ...] = PROCESSES
    instance_config: Path = ROOT / "deploy" / "dagster.yaml"
    sandbox_options: tuple[str, ...] = ()  # more `sylo sandbox` options, e.g. ("--scale", "0.3")
    settings: dict[str, str] = field(default_factory=dict)  # written into `env` when it is first generated


def environment(deployment: Deployment) -> dict[str, str]:
    """The settings of this deployment, generated once and kept in <home>/env."""
    path = deployment.home / "env"
    if not path.exists():
        deployment.home.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{k}={v}\n" for k, v in generated_settings(deployment).items()))
        path.chmod(0o600)
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {**os.environ, **values}


def generated_settings(deployment: Deployment) -> dict[str, str]:
    ports, home = deployment.ports, deployment.home
    values = {name: f"{deployment.postgres}/{db}" for name, db in deployment.databases.items()}
    # dagster-postgres is written for psycopg2 (its NOTIFY cannot take psycopg 3's server-side
    # parameters), and SQLAlchemy 2.1 picks psycopg 3 for a bare postgresql:// URL.
    values["DAGSTER_PG_URL"] = values["DAGSTER_PG_URL"].replace("postgresql://", "postgresql+psycopg2://", 1)
    values.update({
        "SYLO_DATA_DIR": str(home / "data"), "SYLO_REDIS_URL": "redis://127.0.0.1:6379/1",
        "SYLO_PUBLIC_URL": f"http://127.0.0.1:{ports['api']}",
        "SYLO_ENCRYPTION_KEYS": "prod1:" + base64.b64encode(os.urandom(32)).decode(),
        "SYLO_NANGO_URL": f"http://127.0.0.1:{ports['sandbox']}", "SYLO_NANGO_SECRET_KEY": str(uuid.uuid4()),
        "SYLO_NANGO_WEBHOOK_KEYS": str(uuid.uuid4()), "SYLO_N8N_URL": f"http://127.0.0.1:{ports['sandbox']}",
        "SYLO_N8N_AUTH_VALUE": secrets.token_urlsafe(24),
        "SYLO_N8N_SIGNING_SECRET": "whsec_" + base64.b64encode(os.urandom(32)).decode(),
        "SYLO_LOG_LEVEL": "INFO", "DAGSTER_HOME": str(home / "dagster"),
    })
    return {**values, **deployment.settings}


def commands(deployment: Deployment, env: dict[str, str], sandbox_users: int) -> dict[str, list[str]]:
    """The command line of each process this deployment runs, in start order."""
    found = command_lines(deployment, env, sandbox_users)
    wanted = [name for name in deployment.processes
              if name != "sandbox" or env["SYLO_NANGO_URL"].endswith(f":{deployment.ports['sandbox']}")]
    return {name: found[name] for name in sorted(wanted, key=list(found).index)}


def command_lines(deployment: Deployment, env: dict[str, str], sandbox_users: int) -> dict[str, list[str]]:
    workspace, ports = str(ROOT / "workspace.yaml"), deployment.ports
    return {
        "sandbox": [str(BIN / "sylo"), "sandbox", "--port", str(ports["sandbox"]), "--users", str(sandbox_users),
                    "--webhook-url", f"{env['SYLO_PUBLIC_URL']}/webhooks/nango", *deployment.sandbox_options],
        "dagster-daemon": [str(BIN / "dagster-daemon"), "run", "-w", workspace],
        "dagster-webserver": [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(ports["dagster"]),
                              "-w", workspace],
        "api": [str(BIN / "sylo"), "serve", "--port", str(ports["api"]), "--no-outbox-worker"],
        "outbox-worker": [str(BIN / "sylo"), "worker"],
    }


def prepare(deployment: Deployment, env: dict[str, str]) -> None:
    """Databases, the Dagster instance config and its pool limits, the migrated app DB."""
    with psycopg.connect(f"{deployment.postgres}/postgres", autocommit=True) as admin:
        existing = {row[0] for row in admin.execute("SELECT datname FROM pg_database")}
        for db in deployment.databases.values():
            if db not in existing:
                admin.execute(f'CREATE DATABASE "{db}"')
    home = Path(env["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(deployment.instance_config, home / "dagster.yaml")
    # One interpreter for every pool and the app DB migration: each CLI start costs seconds.
    run([sys.executable, "-c", PREPARE_SCRIPT, repr(POOLS)], env)


PREPARE_SCRIPT = """
import ast, sys
from dagster import DagsterInstance
from sylo.appdb import AppDB
from sylo.settings import Settings

with DagsterInstance.get() as instance:
    for pool, limit in ast.literal_eval(sys.argv[1]).items():
        instance.event_log_storage.set_concurrency_slots(pool, limit)
AppDB.from_settings(Settings()).migrate()
"""


def register_sandbox_users(env: dict[str, str]) -> None:
    """The stand-in world's studios become Sylo users (same ids); the sensor then finds their connections."""
    users = httpx.get(f"{env['SYLO_NANGO_URL']}/_sandbox", timeout=120).json()["users"]
    run([sys.executable, "-c", REGISTER_SCRIPT, ",".join(user["user_id"] for user in users)], env)


REGISTER_SCRIPT = """
import sys
from sylo.appdb import AppDB
from sylo.settings import Settings

appdb = AppDB.from_settings(Settings())
for user_id in filter(None, sys.argv[1].split(",")):
    appdb.ensure_user(user_id)
appdb.close()
"""


def run(command: list[str], env: dict[str, str]) -> None:
    subprocess.run(command, env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def up(deployment: Deployment = Deployment(), sandbox_users: int = 20) -> dict[str, str]:
    """Prepare, then start every process not already running; return the deployment's environment."""
    env = environment(deployment)
    prepare(deployment, env)
    for name, command in commands(deployment, env, sandbox_users).items():
        if alive(deployment, name):
            print(f"{name:18} already running (pid {pid_of(deployment, name)})")
            continue
        pid = start(deployment, env, name, command)
        print(f"{name:18} started (pid {pid}), log {deployment.home / 'logs' / name}.log")
        if name == "sandbox":
            wait_for(deployment, f"{env['SYLO_NANGO_URL']}/_sandbox", "the sandbox", seconds=300)
            register_sandbox_users(env)
    wait_for_processes(deployment, env)
    return env


def start(deployment: Deployment, env: dict[str, str], name: str, command: list[str] | None = None) -> int:
    """Start one process in a session of its own, logging to <home>/logs/<name>.log; return its pid."""
    command = command or command_lines(deployment, env, 0)[name]
    for folder in ("logs", "pids"):
        (deployment.home / folder).mkdir(parents=True, exist_ok=True)
    with open(deployment.home / "logs" / f"{name}.log", "ab") as log:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    (deployment.home / "pids" / f"{name}.pid").write_text(str(process.pid))
    return process.pid


def wait_for_processes(deployment: Deployment, env: dict[str, str]) -> None:
    if "api" in deployment.processes:
        wait_for(deployment, f"{env['SYLO_PUBLIC_URL']}/healthz", "the API")
    if "dagster-webserver" in deployment.processes:
        dagster_url = f"http://127.0.0.1:{deployment.ports['dagster']}"
        wait_for(deployment, f"{dagster_url}/server_info", "the Dagster webserver", seconds=120)
        print(f"\nAPI and dashboard: {env['SYLO_PUBLIC_URL']}   Dagster UI: {dagster_url}")
        print(f"Settings: {deployment.home / 'env'} (source it to run `sylo users ...` against this deployment)")


def down(deployment: Deployment = Deployment()) -> None:
    pids = deployment.home / "pids"
    for pid_file in sorted(pids.glob("*.pid")) if pids.exists() else []:
        stop(deployment, pid_file.stem)
        print(f"{pid_file.stem:18} stopped")


def stop(deployment: Deployment, name: str, sig: int = signal.SIGTERM) -> None:
    """Signal the process's whole session (a daemon's code servers and runs too); SIGKILL after 10 s."""
    pid_file = deployment.home / "pids" / f"{name}.pid"
    pid = int(pid_file.read_text())
    try:
        os.killpg(pid, sig)
        for _ in range(100):
            reap(pid)
            os.killpg(pid, 0)
            time.sleep(0.1)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    reap(pid)
    pid_file.unlink()


def reap(pid: int) -> None:
    """Collect the exit status of a process this one started (`up` and `start` in tests), so it stops existing."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def status(deployment: Deployment = Deployment()) -> int:
    names = list(commands(deployment, environment(deployment), 0))
    for name in names:
        pid = pid_of(deployment, name)
        print(f"{name:18} {f'running (pid {pid})' if alive(deployment, name) else 'stopped'}")
    return 0 if all(alive(deployment, name) for name in names) else 1


def pid_of(deployment: Deployment, name: str) -> int | None:
    path = deployment.home / "pids" / f"{name}.pid"
    return int(path.read_text()) if path.exists() else None


def alive(deployment: Deployment, name: str) -> bool:
    pid = pid_of(deployment, name)
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for(deployment: Deployment, url: str, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{what} did not come up at {url}; see {deployment.home / 'logs'}/")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--sandbox-users", type=int, default=20, help="studios in the stand-in world")
    args = parser.parse_args()
    if args.action == "up":
        up(Deployment(), args.sandbox_users)
    elif args.action == "down":
        down(Deployment())
    else:
        return status(Deployment())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
