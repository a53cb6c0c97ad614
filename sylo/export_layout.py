"""Where the static export puts each file: the contract between the pipeline and the API.

    <exports>/<user_id>/context/<kind>.<md|json|yaml>
    <exports>/<user_id>/mcp/<client>.json
    <exports>/<user_id>/manifest.json
"""

from __future__ import annotations

import re
from pathlib import Path

KINDS = ("all", "projects", "communications", "tasks", "financials")
FORMATS = ("md", "json", "yaml")
CLIENTS = ("claude-code", "claude-desktop", "cursor", "vscode")
MEDIA_TYPES = {"md": "text/markdown; charset=utf-8", "json": "application/json",
               "yaml": "application/yaml; charset=utf-8"}
USER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")  # fullmatch: `$` would let a trailing newline in


class ExportLayout:
    def __init__(self, root: Path):
        self.root = Path(root)

    def user_dir(self, user_id: str) -> Path:
        """A user's folder; ids are checked so no path can leave the export root."""
        if not USER_ID.fullmatch(user_id):
            raise ValueError(f"not a valid user id: {user_id!r}")
        return self.root / user_id

    def context(self, user_id: str, kind: str, fmt: str) -> Path:
        if kind not in KINDS or fmt not in FORMATS:
            raise ValueError(f"no such document: {kind}.{fmt}")
        return self.user_dir(user_id) / "context" / f"{kind}.{fmt}"

    def mcp(self, user_id: str, client: str) -> Path:
        if client not in CLIENTS:
            raise ValueError(f"no config for client {client!r}; clients are {', '.join(CLIENTS)}")
        return self.user_dir(user_id) / "mcp" / f"{client}.json"

    def manifest(self, user_id: str) -> Path:
        return self.user_dir(user_id) / "manifest.json"

    def users(self) -> list[str]:
        """Every user that has an export folder."""
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and USER_ID.fullmatch(p.name))
