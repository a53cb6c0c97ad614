"""The `sylo` command line, run as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

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
    second = sylo("demo", "--users", "2", "--seed", "5", "--now", "2026-11-25T09:00:00Z", data_dir=tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("gmail ok +0 ~0 -0") == 2


def test_run_without_users_explains_what_to_do(tmp_path):
    result = sylo("run", data_dir=tmp_path, SYLO_NANGO_SECRET_KEY="3f1c9a52-5b0e-4f3f-8a51-2d6c1e0b9a77")
    assert result.returncode == 2
    assert "sylo demo" in result.stderr


def test_run_without_a_nango_key_says_which_setting_is_missing(tmp_path):
    result = sylo("run", data_dir=tmp_path)
    assert result.returncode != 0
    assert "SYLO_NANGO_SECRET_KEY" in result.stderr


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
        import httpx

        info = httpx.get(url + "/_sandbox", timeout=10).json()
        assert info["seed"] == 9 and len(info["users"]) == 1
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0
