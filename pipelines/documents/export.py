"""The static export: files written atomically, unchanged files left alone, a manifest per user.

A file is written to a temporary name in its folder and renamed over the old one (`os.replace`),
so a reader sees the old bytes or the new, never half. A file whose bytes are unchanged is not
touched at all: its mtime, and so its ETag, stay as they were.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sylo.export_layout import ExportLayout
from sylo.files import private_dir, write_private


@dataclass
class WriteResult:
    user_id: str
    written: list[str]
    unchanged: int
    removed: list[str]


def atomic_write(path: Path, data: bytes) -> None:
    """Replace the file with `data`, owner-only (0600, in 0700 folders)."""
    write_private(path, data)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Exporter:
    def __init__(self, layout: ExportLayout):
        self.layout = layout

    def manifest(self, user_id: str) -> dict | None:
        try:
            return json.loads(self.layout.manifest(user_id).read_text())
        except (FileNotFoundError, ValueError):
            return None

    def complete(self, user_id: str, manifest: dict) -> bool:
        """Every file the manifest lists is there, at the size it says."""
        root = self.layout.user_dir(user_id)
        return all((root / entry["file"]).is_file() and (root / entry["file"]).stat().st_size == entry["bytes"]
                   for entry in manifest.get("files", []))

    def read(self, user_id: str, name: str) -> bytes:
        """One exported file's bytes (`name` relative to the user's folder)."""
        return (self.layout.user_dir(user_id) / name).read_bytes()

    def previous_document(self, user_id: str, kind: str) -> dict | None:
        try:
            return json.loads(self.layout.context(user_id, kind, "json").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def write_user(self, user_id: str, files: dict[str, bytes], fingerprint: str, as_of: datetime,
                   inputs: str | None = None, fingerprints: dict[str, str] | None = None) -> WriteResult:
        """Make the user's folder hold exactly `files` (paths relative to it), then the manifest."""
        private_dir(self.layout.root, tighten=True)
        root = self.layout.user_dir(user_id)
        before = {entry["file"]: entry for entry in (self.manifest(user_id) or {}).get("files", [])}
        now = datetime.now(timezone.utc).isoformat()
        entries, written = [], []
        for name, data in sorted(files.items()):
            path = root / name
            sha = digest(data)
            old = before.get(name)
            if old and old["sha256"] == sha and path.is_file() and path.stat().st_size == len(data):
                entries.append(old)
                continue
            atomic_write(path, data)
            written.append(name)
            entries.append({"file": name, "sha256": sha, "bytes": len(data), "generated_at": now})
        removed = self._remove_strays(root, set(files))
        manifest = {"user_id": user_id, "as_of": as_of.isoformat(), "fingerprint": fingerprint, "inputs": inputs,
                    "fingerprints": fingerprints or {}, "files": entries}
        if written or removed or self.manifest(user_id) != manifest:
            atomic_write(self.layout.manifest(user_id), (json.dumps(manifest, indent=2) + "\n").encode())
        return WriteResult(user_id, written, len(files) - len(written), removed)

    def record_inputs(self, user_id: str, manifest: dict, inputs: str) -> None:
        """Note that the unchanged files also reflect these inputs (the manifest is written last)."""
        atomic_write(self.layout.manifest(user_id), (json.dumps({**manifest, "inputs": inputs}, indent=2) + "\n").encode())

    def _remove_strays(self, root: Path, keep: set[str]) -> list[str]:
        removed = []
        for folder in ("context", "mcp"):
            for path in sorted((root / folder).glob("*")) if (root / folder).is_dir() else []:
                name = f"{folder}/{path.name}"
                if path.is_file() and name not in keep:
                    path.unlink()
                    removed.append(name)
        return removed

    def prune(self, keep: set[str]) -> list[str]:
        """Remove the exports of users who no longer exist."""
        gone = [user_id for user_id in self.layout.users() if user_id not in keep]
        for user_id in gone:
            shutil.rmtree(self.layout.user_dir(user_id))
        return gone
