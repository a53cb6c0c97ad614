"""The outside world, offline: Nango with Gmail, Asana and Xero behind its proxy, and an n8n stand-in.

Product code, not test scaffolding: `sylo sandbox` serves it, the demo runs on it, and the tests
and benchmarks of every part of Sylo meet the outside world only through it.
"""

from sandbox.app import Sandbox, SandboxConfig

__all__ = ["Sandbox", "SandboxConfig"]
