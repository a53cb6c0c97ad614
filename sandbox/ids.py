"""Deterministic identifiers: the same seed always names the same users, records and connections.

Each id is derived from a SHA-256 of its "path" (seed, user, kind, index), never from a shared
counter, so generating one user never shifts another user's ids.
"""

from __future__ import annotations

import base64
import hashlib
import random
import uuid

_BASE32_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def digest(*parts: object) -> bytes:
    """Hash a path of parts into 32 bytes."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()


def rng_for(*parts: object) -> random.Random:
    """Return a random generator seeded by a path of parts."""
    return random.Random(int.from_bytes(digest(*parts)[:8], "big"))


def det_uuid(*parts: object) -> str:
    """Return a UUID v4-shaped id derived from parts (Nango connection ids, Xero ids)."""
    return str(uuid.UUID(bytes=digest(*parts)[:16], version=4))


def end_user_id(seed: int, index: int) -> str:
    """Name the index-th end user of a sandbox world: `u_` and 10 base32 characters."""
    raw = base64.b32encode(digest("end-user", seed, index)).decode()
    return "u_" + raw[:10].translate(_BASE32_LOWER)


def asana_gid(*parts: object) -> str:
    """Return a 16-digit numeric string, the shape of an Asana gid."""
    return "12" + str(int.from_bytes(digest(*parts)[:8], "big"))[-14:].rjust(14, "0")


def gmail_id(internal_ms: int, *parts: object) -> str:
    """Return a 16-hex-digit Gmail id: receive time in the high bits, as Gmail's ids have."""
    low = int.from_bytes(digest(*parts)[:4], "big") & 0xFFFFF
    return f"{(internal_ms << 20) | low:016x}"


def token_hex(nbytes: int, *parts: object) -> str:
    """Return a hex string of nbytes derived from parts (stable fake access tokens, offsets)."""
    return digest(*parts).hex()[: nbytes * 2]
