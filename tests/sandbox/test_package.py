"""The sandbox package: its public entry points, and leaves that import without the HTTP app."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sandbox

ROOT = Path(__file__).resolve().parents[2]
LEAVES = ["sandbox.ids", "sandbox.vocab", "sandbox.studio", "sandbox.stores.gmail", "sandbox.stores.asana",
          "sandbox.stores.asana_events", "sandbox.stores.xero", "sandbox.generate", "sandbox.world", "sandbox.changes", "sandbox.faults",
          "sandbox.limits", "sandbox.server"]
HTTP_APP = {"sandbox.app", "sandbox.admin", "sandbox.nango", "sandbox.proxy", "sandbox.http", "werkzeug", "jinja2",
            "httpx"}


def imported_after(module: str) -> set[str]:
    """The modules a fresh interpreter holds after importing `module` alone."""
    code = f"import importlib, json, sys; importlib.import_module({module!r}); print(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                            check=True)
    return set(json.loads(result.stdout))


@pytest.mark.parametrize("leaf", LEAVES)
def test_a_leaf_imports_without_the_http_app(leaf: str) -> None:
    loaded = imported_after(leaf)
    assert leaf in loaded
    assert loaded & HTTP_APP == set()


def test_the_package_root_exports_the_sandbox_and_its_config() -> None:
    from sandbox import Sandbox, SandboxConfig

    assert sorted(sandbox.__all__) == ["Sandbox", "SandboxConfig"]
    assert set(sandbox.__all__) <= set(dir(sandbox))
    box = Sandbox(SandboxConfig(users=1, seed=3))
    try:
        assert len(box.world.users()) == 1
    finally:
        box.close()


def test_an_unknown_name_is_an_import_error() -> None:
    with pytest.raises(ImportError):
        from sandbox import NoSuchThing  # noqa: F401


def test_every_admin_route_is_in_the_readmes_admin_table() -> None:
    from sandbox.app import _rules

    def shape(text: str) -> str:
        return re.sub(r"<[^>]+>", "<>", text)

    readme = shape((ROOT / "README.md").read_text())
    routes = {shape(rule.rule) for rule in _rules().iter_rules() if rule.rule.startswith("/_sandbox")}
    missing = [r for r in sorted(routes) if not re.search(r"`[A-Z|]+ " + re.escape(r) + "`", readme)]
    assert not missing, f"document these admin routes in the README's sandbox section: {missing}"
