"""Read a user's exported files: what exists, their bytes and a strong ETag, never a half-written file.

The pipeline replaces files with `os.replace`, so an open file descriptor keeps the version it
opened. ETags are the SHA-256 of the bytes served, remembered per (inode, mtime, size) so a
revalidation (`If-None-Match`) costs one `stat`, not a read.
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
        self._etags: dict[tuple, str] = {}
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

    def etag(self, user_id: str, kind: str, fmt: str) -> str | None:
        """The current ETag of a document, or None when it is not exported."""
        try:
            stat = os.stat(self.path(user_id, kind, fmt))
        except FileNotFoundError:
            return None
        known = self._etags.get(_key(stat))
        return known if known is not None else (self.read(user_id, kind, fmt) or Document(kind, fmt, b"", "")).etag

    def read(self, user_id: str, kind: str, fmt: str) -> Document | None:
        """The document's bytes and ETag, or None when it is not exported."""
        try:
            with open(self.path(user_id, kind, fmt), "rb") as handle:
                key = _key(os.fstat(handle.fileno()))
                body = handle.read()
        except FileNotFoundError:
            return None
        etag = self._etags.get(key)
        if etag is None:
            etag = '"' + hashlib.sha256(body).hexdigest() + '"'
            with self._lock:
                if len(self._etags) > 50_000:  # bounded: old entries belong to replaced files
                    self._etags.clear()
                self._etags[key] = etag
        return Document(kind, fmt, body, etag)


def _key(stat: os.stat_result) -> tuple:
    return (stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)


__all__ = ["CLIENTS", "FORMATS", "KINDS", "Document", "DocumentInfo", "DocumentStore"]
