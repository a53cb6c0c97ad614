"""Production mode on one machine: `make prod-up` / `make prod-down` (or `python deploy/prod.py up|down|status`).

Separate processes, as on a real deployment: dagster-webserver, dagster-daemon, gunicorn (the
API and dashboard), the outbox worker; Postgres holds the warehouse, the app DB and the Dagster
instance (dagster-postgres), Redis the API's shared state. Without SYLO_NANGO_URL a `sylo
sandbox` process stands in for Nango, Gmail, Asana, Xero and n8n.

Everything lives under `.sylo/prod/`: `env` (the generated settings: keep it, it holds the
encryption key), `dagster/` (DAGSTER_HOME), `logs/` and `pids/`.
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
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HOME = ROOT / ".sylo" / "prod"
BIN = Path(sys.executable).parent
POSTGRES = os.environ.get("SYLO_PROD_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
DATABASES = {"SYLO_WAREHOUSE_URL": "sylo_warehouse", "SYLO_APP_DB_URL": "sylo_app", "DAGSTER_PG_URL": "sylo_dagster"}
POOLS = {"nango_gmail": 4, "nango_asana": 4, "nango_xero": 2}  # see deploy/dagster.yaml
PORTS = {"api": 8000, "dagster": 3000, "sandbox": 3003}


def environment() -> dict[str, str]:
    """The settings of this deployment, generated once and kept in .sylo/prod/env."""
    path = HOME / "env"
    if not path.exists():
        HOME.mkdir(parents=True, exist_ok=True)
        values = {name: f"{POSTGRES}/{db}" for name, db in DATABASES.items()}
        # dagster-postgres is written for psycopg2 (its NOTIFY cannot take psycopg 3's server-side
        # parameters), and SQLAlchemy 2.1 picks psycopg 3 for a bare postgresql:// URL.
        values["DAGSTER_PG_URL"] = values["DAGSTER_PG_URL"].replace("postgresql://", "postgresql+psycopg2://", 1)
        values.update({
            "SYLO_DATA_DIR": str(HOME / "data"), "SYLO_REDIS_URL": "redis://127.0.0.1:6379/1",
            "SYLO_PUBLIC_URL": f"http://127.0.0.1:{PORTS['api']}",
            "SYLO_ENCRYPTION_KEYS": "prod1:" + base64.b64encode(os.urandom(32)).decode(),
            "SYLO_NANGO_URL": f"http://127.0.0.1:{PORTS['sandbox']}", "SYLO_NANGO_SECRET_KEY": str(uuid.uuid4()),
            "SYLO_NANGO_WEBHOOK_KEYS": str(uuid.uuid4()), "SYLO_N8N_URL": f"http://127.0.0.1:{PORTS['sandbox']}",
            "SYLO_N8N_AUTH_VALUE": secrets.token_urlsafe(24),
            "SYLO_N8N_SIGNING_SECRET": "whsec_" + base64.b64encode(os.urandom(32)).decode(),
            "SYLO_LOG_LEVEL": "INFO", "DAGSTER_HOME": str(HOME / "dagster"),
        })
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        path.chmod(0o600)
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {**os.environ, **values}


def processes(env: dict[str, str], sandbox_users: int) -> dict[str, list[str]]:
    workspace = str(ROOT / "workspace.yaml")
    found = {
        "dagster-daemon": [str(BIN / "dagster-daemon"), "run", "-w", workspace],
        "dagster-webserver": [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(PORTS["dagster"]),
                              "-w", workspace],
        "api": [str(BIN / "sylo"), "serve", "--port", str(PORTS["api"]), "--no-outbox-worker"],
        "outbox-worker": [str(BIN / "sylo"), "worker"],
    }
    if env["SYLO_NANGO_URL"].endswith(f":{PORTS['sandbox']}"):
        found = {"sandbox": [str(BIN / "sylo"), "sandbox", "--port", str(PORTS["sandbox"]), "--users",
                             str(sandbox_users), "--webhook-url", f"{env['SYLO_PUBLIC_URL']}/webhooks/nango"],
                 **found}
    return found


def prepare(env: dict[str, str]) -> None:
    """Databases, the Dagster instance config and its pool limits, the migrated app DB."""
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
        existing = {row[0] for row in admin.execute("SELECT datname FROM pg_database")}
        for db in DATABASES.values():
            if db not in existing:
                admin.execute(f'CREATE DATABASE "{db}"')
    home = Path(env["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    for pool, limit in POOLS.items():
        run([str(BIN / "dagster"), "instance", "concurrency", "set", pool, str(limit)], env)
    run([str(BIN / "sylo"), "users", "list"], env)  # migrates the app DB


def register_sandbox_users(env: dict[str, str]) -> None:
    """The stand-in world's studios become Sylo users (same ids); the sensor then finds their connections."""
    users = httpx.get(f"{env['SYLO_NANGO_URL']}/_sandbox", timeout=30).json()["users"]
    os.environ.update({k: v for k, v in env.items() if k.startswith("SYLO_")})
    from sylo.appdb import AppDB
    from sylo.settings import Settings

    appdb = AppDB.from_settings(Settings())
    for user in users:
        appdb.ensure_user(user["user_id"])
    appdb.close()


def run(command: list[str], env: dict[str, str]) -> None:
    subprocess.run(command, env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def up(sandbox_users: int) -> None:
    env = environment()
    prepare(env)
    (HOME / "logs").mkdir(exist_ok=True)
    (HOME / "pids").mkdir(exist_ok=True)
    for name, command in processes(env, sandbox_users).items():
        if alive(name):
            print(f"{name:18} already running (pid {pid_of(name)})")
            continue
        log = open(HOME / "logs" / f"{name}.log", "ab")
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        (HOME / "pids" / f"{name}.pid").write_text(str(process.pid))
        print(f"{name:18} started (pid {process.pid}), log .sylo/prod/logs/{name}.log")
        if name == "sandbox":
            wait_for(f"{env['SYLO_NANGO_URL']}/_sandbox", "the sandbox")
            register_sandbox_users(env)
    wait_for(f"{env['SYLO_PUBLIC_URL']}/healthz", "the API")
    wait_for(f"http://127.0.0.1:{PORTS['dagster']}/server_info", "the Dagster webserver", seconds=120)
    print(f"\nAPI and dashboard: {env['SYLO_PUBLIC_URL']}   Dagster UI: http://127.0.0.1:{PORTS['dagster']}")
    print("Settings: .sylo/prod/env (source it to run `sylo users ...` against this deployment)")


def down() -> None:
    for pid_file in sorted((HOME / "pids").glob("*.pid")) if (HOME / "pids").exists() else []:
        name, pid = pid_file.stem, int(pid_file.read_text())
        try:
            os.killpg(pid, signal.SIGTERM)
            for _ in range(100):
                os.killpg(pid, 0)
                time.sleep(0.1)
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        pid_file.unlink()
        print(f"{name:18} stopped")


def status() -> int:
    env = environment()
    names = list(processes(env, 0))
    for name in names:
        print(f"{name:18} {'running (pid %d)' % pid_of(name) if alive(name) else 'stopped'}")
    return 0 if all(alive(name) for name in names) else 1


def pid_of(name: str) -> int | None:
    path = HOME / "pids" / f"{name}.pid"
    return int(path.read_text()) if path.exists() else None


def alive(name: str) -> bool:
    pid = pid_of(name)
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for(url: str, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{what} did not come up at {url}; see .sylo/prod/logs/")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--sandbox-users", type=int, default=20, help="studios in the stand-in world")
    args = parser.parse_args()
    if args.action == "up":
        up(args.sandbox_users)
    elif args.action == "down":
        down()
    else:
        return status()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
