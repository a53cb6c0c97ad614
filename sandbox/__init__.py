"""The outside world, offline: Nango with Gmail, Asana and Xero behind its proxy, and an n8n stand-in.

Product code, not test scaffolding: `sylo sandbox` serves it, the demo runs on it, and the tests
and benchmarks of every part of Sylo meet the outside world only through it.

`from sandbox import Sandbox, SandboxConfig` is the way in. The names load on first use (PEP 562),
because Python runs this file before any submodule: importing `sandbox.world` or `sandbox.vocab`
must not start the HTTP app.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.app import Sandbox
    from sandbox.state import SandboxConfig

_HOMES = {"Sandbox": "sandbox.app", "SandboxConfig": "sandbox.state"}
__all__ = ["Sandbox", "SandboxConfig"]


def __getattr__(name: str) -> Any:
    """Import `Sandbox` or `SandboxConfig` from its module the first time it is asked for."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
