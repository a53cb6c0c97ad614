"""Sylo's files are its owner's alone: folders 0700, files 0600.

The data directory holds the app DB (sessions, token hashes, encrypted secrets), the warehouse
(studios' mail subjects, clients, invoices), the exports and the encryption key. Every part of
Sylo that creates a folder or a file there goes through this module.

Files that libraries create on their own (DuckDB's write-ahead log, SQLite's journal, the
Prometheus client's per-worker files) follow the process umask, so the first private folder a
process makes also sets its umask to 077, as PostgreSQL does for its data directory.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077


def private_umask() -> None:
    """Make every file and folder this process creates from now on owner-only."""
    os.umask(os.umask(UMASK) | UMASK)  # keep any bits a stricter umask already clears


def private_dir(path: Path | str, *, tighten: bool = False) -> Path:
    """Create `path` and any missing parents as 0700; with `tighten`, a folder already there too.

    Tighten only a folder that is Sylo's own (the data directory, the exports): the folder above a
    warehouse file someone placed may be their home directory.
    """
    private_umask()
    path = Path(path)
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:  # another process made it first
            pass
    if tighten and path.stat().st_mode & 0o777 != DIR_MODE:
        path.chmod(DIR_MODE)
    return path


def private_file(path: Path | str) -> Path:
    """Create `path` empty as 0600 if it is missing (for a library to open), else make it 0600."""
    path = Path(path)
    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        if path.stat().st_mode & 0o777 != FILE_MODE:
            path.chmod(FILE_MODE)
    return path


def write_private(path: Path | str, data: bytes) -> None:
    """Replace `path` atomically with `data`, as 0600: written aside, then renamed over it.

    A reader sees the old bytes or the new, never half.
    """
    path = Path(path)
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
