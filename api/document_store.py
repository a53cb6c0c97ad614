"""Read a user's exported files: what exists, their bytes and a strong ETag, never a half-written file.

The pipeline replaces files with `os.replace`, so an open file descriptor keeps the version it
opened, and a new version is a new inode. A document's bytes and ETag (the SHA-256 of the bytes)
are remembered per file version (device, inode, mtime, size), so serving a document that has not
changed costs one `stat` and no read; the memory this takes is bounded (`MAX_CACHED_BYTES`).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from sylo.export_layout import CLIENTS, FORMATS, KINDS, MEDIA_TYPES, ExportLayout

TITLES = {"all": "Briefing", "projects": "Projects", "communications": "Communications", "tasks": "Tasks",
          "financials": "Financials"}
FORMAT_NAMES = {"md": "Markdown", "json": "JSON", "yaml": "YAML"}
MAX_CACHED_BYTES = 64 * 1024 * 1024  # per process; past it the cache starts again (old versions go with it)
MAX_CACHED_FILE = 4 * 1024 * 1024  # a larger document is read on every request instead


@dataclass(frozen=True)
class DocumentInfo:
    kind: str
    format: str
    bytes: int
    generated_at: str | None

    @property
    def name(self) -> str:
        return f"{self.kind}.{self.format}"

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    @property
    def title(self) -> str:
        return f"{TITLES[self.kind]} ({FORMAT_NAMES[self.format]})"


@dataclass(frozen=True)
class Document:
    kind: str
    format: str
    body: bytes
    etag: str

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]


class DocumentStore:
    """The static export seen from the API: one user's files at a time, by kind and format."""

    def __init__(self, root: Path):
        self.layout = ExportLayout(root)
        self._versions: dict[Path, tuple[tuple, Document]] = {}  # path -> (file version, its document)
        self._cached_bytes = 0
        self._paths: dict[tuple[str, str, str], Path] = {}
        self._lock = threading.Lock()

    def path(self, user_id: str, kind: str, fmt: str) -> Path:
        """The document's file, checked and built once per (user, kind, format) and remembered."""
        key = (user_id, kind, fmt)
        found = self._paths.get(key)
        if found is None:
            found = self.layout.context(user_id, kind, fmt)
            if len(self._paths) > 100_000:
                self._paths.clear()
            self._paths[key] = found
        return found

    def manifest(self, user_id: str) -> dict | None:
        try:
            return json.loads(self.layout.manifest(user_id).read_bytes())
        except (FileNotFoundError, ValueError):
            return None

    def documents(self, user_id: str) -> list[DocumentInfo]:
        """The user's context documents that exist, in kind then format order."""
        manifest = self.manifest(user_id) or {}
        listed = {entry["file"]: entry for entry in manifest.get("files", [])}
        found = []
        for kind in KINDS:
            for fmt in FORMATS:
                entry = listed.get(f"context/{kind}.{fmt}")
                if entry and self.layout.context(user_id, kind, fmt).is_file():
                    found.append(DocumentInfo(kind, fmt, entry["bytes"], entry.get("generated_at")))
        return found

    def read(self, user_id: str, kind: str, fmt: str) -> Document | None:
        """The document's current bytes and ETag, or None when it is not exported: one `stat` when it is
        the version read last time, else one read."""
        path = self.path(user_id, kind, fmt)
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return None
        known = self._versions.get(path)
        if known is not None and known[0] == _key(stat):
            return known[1]
        return self._load(path, kind, fmt)

    def _load(self, path: Path, kind: str, fmt: str) -> Document | None:
        try:
            with open(path, "rb") as handle:
                version = _key(os.fstat(handle.fileno()))
                body = handle.read()
        except FileNotFoundError:  # replaced or removed between the stat and the open
            return None
        document = Document(kind, fmt, body, '"' + hashlib.sha256(body).hexdigest() + '"')
        if len(body) <= MAX_CACHED_FILE:
            with self._lock:
                if self._cached_bytes + len(body) > MAX_CACHED_BYTES:
                    self._versions.clear()
                    self._cached_bytes = 0
                previous = self._versions.get(path)
                self._cached_bytes += len(body) - (len(previous[1].body) if previous else 0)
                self._versions[path] = (version, document)
        return document


def _key(stat: os.stat_result) -> tuple:
    return (stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)


__all__ = ["CLIENTS", "FORMATS", "KINDS", "Document", "DocumentInfo", "DocumentStore"]
