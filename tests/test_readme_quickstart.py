"""The README's quick start, run as written (issue 16): `make demo`, then `make demo DEMO_ARGS="--serve"`
and the `sylo sign` + curl example from a second shell. The commands are read out of README.md, so
this fails when the README drifts from what the demo does.

They run in a scratch directory that links the repository's Makefile and the installed venv, so
`.venv/bin/sylo` is the one the README means. Two liberties, both mechanical: `make` is told not to
reinstall (`-o .venv/.installed`: the venv is shared), and port 8000, which another process on a
shared machine may hold, becomes a free one.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
NO_REINSTALL = "make -o .venv/.installed "

pytestmark = pytest.mark.slow


def quick_start() -> str:
    return README[README.index("## Quick start"):README.index("\n## ", README.index("## Quick start") + 1)]


def first_commands() -> list[str]:
    """The two commands the README opens with."""
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]


def serve_command() -> str:
    return re.search(r'`(make demo DEMO_ARGS="--serve")`', quick_start()).group(1)


def signed_command_block() -> str:
    block = next(b for b in re.findall(r"```bash\n(.*?)```", quick_start(), re.S) if "sylo sign" in b)
    return "\n".join(line.strip() for line in block.splitlines())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    made = tmp_path_factory.mktemp("quickstart")
    (made / ".venv").symlink_to(Path(sys.executable).parents[1])
    for name in ("Makefile", "pyproject.toml"):
        (made / name).symlink_to(ROOT / name)
    return made


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    # A reader types `make demo` at a shell, not inside another make: CI's `make test` exports MAKELEVEL and
    # MAKEFLAGS, which would make the inner make print "Entering directory" lines around the demo's output.
    inherited = ("SYLO_", "MAKE", "MFLAGS")
    return {k: v for k, v in os.environ.items() if not k.startswith(inherited)} | {"PYTHONUNBUFFERED": "1"}


def shell(command: str, cwd: Path, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def delivered(command: dict, token: str, timeout: float = 60) -> bool:
    """n8n took it: at once, or (when the first try outlasts the API's wait) soon after, per its status_url."""
    deadline = time.monotonic() + timeout
    while command["status"] in ("queued", "delivering") and time.monotonic() < deadline:
        time.sleep(0.5)
        command = httpx.get(command["status_url"], headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    return command["status"] == "delivered"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_readme_opens_with_make_demo_and_make_test():
    assert first_commands() == ["make demo", "make test"]


@pytest.fixture(scope="module")
def demo_run(workdir, env) -> subprocess.CompletedProcess:
    done = shell(first_commands()[0].replace("make ", NO_REINSTALL, 1), workdir, env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_make_demo_says_what_it_did_in_plain_lines(demo_run):
    out = demo_run.stdout
    assert "Per service, records added (+), updated (~) and deleted (-):" in out
    assert re.search(r"^\[3/3\] u_\w+  gmail ok \+\d+ ~\d+ -\d+ \| asana ok", out, re.M)
    assert not re.search(r"\b[A-Z]\w+\((['\"]|sqlite)", out), "no object reprs"
    assert "(s)" not in out and "change(s) recorded" not in out
    assert out.rstrip().splitlines()[-1].startswith('Next: make demo DEMO_ARGS="--serve"')


def test_make_demo_prints_each_studio_a_token_and_a_secret_once(demo_run, workdir, env):
    issued = re.findall(r"^  (u_\w+)  API token (sylo_\S+)  signing secret (whsec_\S+)$", demo_run.stdout, re.M)
    assert len(issued) == 3
    again = shell(first_commands()[0].replace("make ", NO_REINSTALL, 1), workdir, env)
    assert again.returncode == 0 and "sylo_" not in again.stdout and "whsec_" not in again.stdout
    assert again.stdout.count("gmail ok +0 ~0 -0") == 3, "the second run is incremental"


def test_the_key_file_is_mentioned_once_and_nothing_warns(demo_run):
    both = demo_run.stdout + demo_run.stderr
    assert both.count("encryption.key") == 1 and "WARNING" not in both


def test_the_preview_shows_whole_sections(demo_run, workdir):
    match = re.search(r"What an agent reads first: (\S+) .*?\n-{72}\n(.*?)\n-{72}\n", demo_run.stdout, re.S)
    path, shown = workdir / match.group(1), match.group(2)
    whole = path.read_text()
    assert whole.startswith(shown) and shown.count("\n## ") >= 1
    rest = whole[len(shown):]
    assert rest.strip() == "" or rest.startswith("\n\n## "), "cut mid-section"


def test_the_signed_command_example_works_as_written_against_the_serving_demo(demo_run, workdir, env):
    port = free_port()
    serve = serve_command().replace('--serve"', f'--serve --port {port}"').replace("make ", NO_REINSTALL, 1)
    log = workdir / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(["bash", "-c", serve], cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while "Ctrl-C stops everything" not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.5)
        served = log.read_text()
        user_id = re.search(r"^USER_ID=(\S+)$", signed_command_block(), re.M).group(1)
        assert f"USER_ID={user_id}" in served and f"Sign in as {user_id} (synced studio)" in served
        answer = shell(signed_command_block().replace("127.0.0.1:8000", f"127.0.0.1:{port}"), workdir, env, 60)
        assert answer.returncode == 0 and "WARNING" not in answer.stderr, answer.stderr
        token = re.search(rf"^  {user_id}  API token (\S+)", demo_run.stdout, re.M).group(1)
        assert delivered(json.loads(answer.stdout), token), answer.stdout
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)
