"""The architecture, checked: `lint-imports` holds the import contracts in `.importlinter`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_import_contracts_are_kept() -> None:
    # PYTHONPATH first, so grimp reads this checkout rather than whatever copy is installed.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    assert LINT_IMPORTS.exists(), f"{LINT_IMPORTS} is missing: install the dev extras (import-linter)"
    result = subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo", str(ROOT / ".importlinter")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_api_loads_without_dagster_or_the_warehouse(tmp_path) -> None:
    """An API worker imports Flask and the core only: `python -X importtime` lists every module it loads."""
    script = ("import api\n"
              "from sylo.settings import Settings\n"
              "api.create_app(Settings(_env_file=None, data_dir=r'%s'))\n") % tmp_path
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SYLO_")},
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines()
              if line.startswith("import time:") and "|" in line}
    assert "flask" in loaded and "api" in loaded  # the measurement sees the app's own imports
    assert not loaded & {"dagster", "duckdb", "pandas", "pipelines", "assets"}, sorted(loaded & {"dagster", "duckdb"})
