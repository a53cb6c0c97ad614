"""Sylo's data directory is its owner's alone: every folder 0700, every file 0600."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr

from sylo.files import private_dir, private_file, write_private
from sylo.keyring import Keyring
from sylo.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shell_umask():
    """The umask most shells start processes with (022), restored afterwards."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def modes(root: Path) -> dict[str, str]:
    """Every path under root (root included) whose mode is not the private one, with its mode."""
    wrong = {}
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        expected = 0o700 if path.is_dir() else 0o600
        if mode != expected:
            wrong[str(path.relative_to(root))] = oct(mode)
    return wrong


def test_a_demo_like_run_leaves_nothing_readable_by_others(sandbox, tmp_path, shell_umask):
    from pipelines.pipeline import Pipeline

    data_dir = tmp_path / "data"
    settings = Settings(_env_file=None, data_dir=data_dir, nango_url=sandbox.url,
                        nango_secret_key=SecretStr(sandbox.secret_key))
    runtime = Pipeline(settings)
    try:
        user_ids = sandbox.user_ids()
        for user_id in user_ids:
            runtime.appdb.ensure_user(user_id)
        Keyring.from_settings(settings)  # the generated encryption key
        report = runtime.run(user_ids, as_of=datetime.now(timezone.utc))
        published = [user.published for user in report.users.values()]
        assert all(p.files_written for p in published)
        files = {p.name for p in data_dir.rglob("*") if p.is_file()}
        assert {"app.db", "warehouse.duckdb", "encryption.key", "all.md", "manifest.json"} <= files
        assert modes(data_dir) == {}
    finally:
        runtime.close()
    assert modes(data_dir) == {}


def test_the_api_and_gunicorn_make_their_folders_private(tmp_path, shell_umask):
    data_dir = tmp_path / "data"
    env = {**os.environ, "SYLO_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    script = ("import os; os.umask(0o022); import sylo.gunicorn_conf as conf; conf.on_starting(None); "
              "from api import create_app; from sylo.settings import Settings; create_app(Settings(_env_file=None))")
    subprocess.run([sys.executable, "-c", script], env=env, check=True, cwd=tmp_path, timeout=120)
    assert {"prometheus", "exports", "app.db"} <= {p.name for p in data_dir.iterdir()}
    assert modes(data_dir) == {}


def test_private_dir_makes_missing_parents_private_and_tightens_only_when_asked(tmp_path, shell_umask):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    made = private_dir(shared / "a" / "b")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # not Sylo's folder: left alone
    assert modes(shared / "a") == {} and made.is_dir()
    private_dir(shared, tighten=True)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o700


def test_private_files_are_0600_whether_new_or_replaced(tmp_path, shell_umask):
    old = tmp_path / "old.db"
    old.write_bytes(b"")
    old.chmod(0o644)
    assert stat.S_IMODE(private_file(old).stat().st_mode) == 0o600
    assert stat.S_IMODE(private_file(tmp_path / "new.db").stat().st_mode) == 0o600
    target = tmp_path / "x" / "doc.md"
    write_private(target, b"one")
    write_private(target, b"two")
    assert target.read_bytes() == b"two" and modes(tmp_path / "x") == {}
    assert (tmp_path / "later.txt").open("w") and stat.S_IMODE((tmp_path / "later.txt").stat().st_mode) == 0o600
