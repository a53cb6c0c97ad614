"""The `sylo` command line, run as a user runs it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SYLO = str(Path(sys.executable).with_name("sylo"))


def sylo(*args: str, data_dir: Path, timeout: float = 240, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SYLO_")}
    return subprocess.run([SYLO, *args], capture_output=True, text=True, timeout=timeout, cwd=data_dir,
                          env={**clean, "SYLO_DATA_DIR": str(data_dir / ".sylo"), **env})


def test_every_command_is_documented_in_the_readme(tmp_path):
    readme = (ROOT / "README.md").read_text()
    listed = sylo("--help", data_dir=tmp_path).stdout
    commands = re.findall(r"^  (\w[\w-]*)\s", listed.split("Commands:")[1], flags=re.M)
    assert {"sandbox", "run", "demo"} <= set(commands)
    for command in commands:
        assert f"`sylo {command}" in readme, f"`sylo {command}` is not documented in README.md"


def test_demo_runs_end_to_end_and_a_second_run_is_incremental(tmp_path):
    first = sylo("demo", "--users", "2", "--seed", "5", "--now", "2026-11-25T09:00:00Z", data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    assert re.search(r"\[2/2\] u_\w+  gmail ok \+\d+", first.stdout)
    assert first.stdout.count("  asana  ") == 2 and "unpaid invoices" in first.stdout
    assert (tmp_path / ".sylo" / "warehouse.duckdb").exists() and (tmp_path / ".sylo" / "app.db").exists()
    assert "DuckDBWarehouse(" not in first.stdout and "AppDB(" not in first.stdout
    assert first.stdout.rstrip().splitlines()[-1].startswith("Next:")
    second = sylo("demo", "--users", "2", "--seed", "5", "--now", "2026-11-25T09:00:00Z", data_dir=tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("gmail ok +0 ~0 -0") == 2


def test_run_without_users_explains_what_to_do(tmp_path):
    result = sylo("run", data_dir=tmp_path, SYLO_NANGO_SECRET_KEY="3f1c9a52-5b0e-4f3f-8a51-2d6c1e0b9a77")
    assert result.returncode == 2
    assert "sylo demo" in result.stderr


def test_run_without_a_nango_key_says_exactly_what_to_set(tmp_path):
    result = sylo("run", data_dir=tmp_path)
    assert result.returncode != 0
    assert "SYLO_NANGO_SECRET_KEY is not set" in result.stderr
    assert "export SYLO_NANGO_URL=http://127.0.0.1:3003 SYLO_NANGO_SECRET_KEY=" in result.stderr
    assert "the export line it printed" in result.stderr


def test_run_against_nothing_or_with_a_refused_key_says_what_to_set(tmp_path, make_sandbox):
    assert sylo("users", "create", "--email", "ana@studio.example", "--id", "ana", data_dir=tmp_path).returncode == 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    nothing = sylo("run", data_dir=tmp_path, SYLO_NANGO_URL=closed, SYLO_NANGO_SECRET_KEY=str(uuid.uuid4()))
    assert nothing.returncode == 1 and f"Nothing answers at SYLO_NANGO_URL={closed}" in nothing.stderr
    assert "Traceback" not in nothing.stderr
    sandbox = make_sandbox(users=1)
    refused = sylo("run", data_dir=tmp_path, SYLO_NANGO_URL=sandbox.url, SYLO_NANGO_SECRET_KEY=str(uuid.uuid4()))
    assert refused.returncode == 1 and f"Nango at {sandbox.url} refused SYLO_NANGO_SECRET_KEY" in refused.stderr


def test_run_syncs_from_a_sandbox_started_by_hand_with_the_line_it_printed(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SYLO_")}
    process = subprocess.Popen([SYLO, "sandbox", "--port", "0", "--users", "1", "--seed", "4", "--scale", "0.2"],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**clean, "SYLO_DATA_DIR": str(tmp_path / ".sylo")})
    try:
        lines = [process.stdout.readline() for _ in range(5)]
        export = next(line for line in lines if line.strip().startswith("export "))
        settings = dict(pair.split("=", 1) for pair in export.split()[1:])
        assert {"SYLO_NANGO_URL", "SYLO_NANGO_SECRET_KEY", "SYLO_N8N_URL"} <= set(settings)
        user_id = re.search(r"^  (u_\w+)  ", "".join(lines), re.M).group(1)
        created = sylo("users", "create", "--email", "owner@studio.example", "--id", user_id, data_dir=tmp_path,
                       **settings)
        assert created.returncode == 0, created.stderr
        run = sylo("run", data_dir=tmp_path, **settings)
        assert run.returncode == 0, run.stderr
        assert re.search(rf"\[1/1\] {user_id}  gmail ok \+\d+", run.stdout)
        assert run.stdout.rstrip().splitlines()[-1].startswith("Next:")
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_cli_calls_on_a_laptop_do_not_warn_about_the_local_key_every_time(tmp_path):
    first = sylo("users", "create", "--email", "ana@studio.example", "--id", "ana", data_dir=tmp_path)
    assert first.returncode == 0 and first.stderr.count("encryption.key") == 1, first.stderr
    for args in (("users", "secret", "ana", "--rotate"), ("sign", "--user", "ana", "{}"), ("users", "list")):
        later = sylo(*args, data_dir=tmp_path)
        assert later.returncode == 0 and "encryption" not in later.stderr.lower(), (args, later.stderr)


def test_in_production_a_missing_keyring_still_warns(tmp_path, postgres_database):
    made = sylo("users", "create", "--email", "ana@studio.example", "--id", "ana", data_dir=tmp_path,
                SYLO_APP_DB_URL=postgres_database)
    assert made.returncode == 0 and "WARNING sylo.keyring: SYLO_ENCRYPTION_KEYS is not set" in made.stderr


@pytest.mark.slow
def test_dagster_prepares_its_home_and_loads_the_code_location(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SYLO_", "DAGSTER_"))}
    assert not (tmp_path / ".sylo").exists()
    process = subprocess.Popen([SYLO, "dagster", "--port", str(port), "--users", "1"], cwd=tmp_path,
                               env={**clean, "SYLO_DATA_DIR": str(tmp_path / ".sylo")}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    query = {"query": "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                      "locationOrLoadError { __typename } } } } }"}
    try:
        deadline, entries = time.monotonic() + 240, []
        while time.monotonic() < deadline and not entries:
            assert process.poll() is None, process.stdout.read()
            try:
                found = httpx.post(f"http://127.0.0.1:{port}/graphql", json=query, timeout=5).json()
                entries = found["data"]["workspaceOrError"]["locationEntries"]
                entries = entries if entries and entries[0]["loadStatus"] == "LOADED" else []
            except (httpx.HTTPError, KeyError, TypeError):
                time.sleep(1)
        assert entries and entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation"
        home = tmp_path / ".sylo" / "dagster"
        assert (home / "dagster.yaml").read_text() == (ROOT / "deploy" / "dagster-embedded.yaml").read_text()
    finally:
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=90) == 0


@pytest.mark.parametrize("args,message", [(["--now", "yesterday"], "ISO 8601"),
                                          (["--fault-rate", "gmail=2"], "between 0 and 1"),
                                          (["--fault-rate", "fax=0.1"], "unknown service")])
def test_sandbox_refuses_bad_options_clearly(tmp_path, args, message):
    result = sylo("sandbox", "--port", "0", *args, data_dir=tmp_path, timeout=60)
    assert result.returncode == 2 and message in result.stderr


def test_sandbox_serves_until_interrupted(tmp_path):
    process = subprocess.Popen([SYLO, "sandbox", "--port", "0", "--users", "1", "--seed", "9"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "SYLO_DATA_DIR": str(tmp_path)})
    try:
        banner = process.stdout.readline()
        url = re.search(r"on (http://\S+)", banner).group(1)
        info = httpx.get(url + "/_sandbox", timeout=10).json()
        assert info["seed"] == 9 and len(info["users"]) == 1
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0
