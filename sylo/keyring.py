"""AES-256-GCM keyring for secrets at rest, with key ids so keys can rotate.

A ciphertext names the key that sealed it (`v1:<key id>:<base64url(nonce + ciphertext)>`), so a
keyring holding old and new keys reads both while new data goes under the newest. Callers pass
associated data (AAD) that binds a ciphertext to its record: moved to another row, it fails.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sylo.files import private_dir

log = logging.getLogger(__name__)

VERSION = "v1"
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
KEY_BYTES = 32
NONCE_BYTES = 12  # GCM's standard nonce; random nonces are safe far beyond our message counts
ENV_NAME = "SYLO_ENCRYPTION_KEYS"
KEY_FILE = "encryption.key"

_warned: set[Path] = set()


class KeyringError(ValueError):
    """A keyring that cannot be built, or a ciphertext it cannot open."""


class UnknownKey(KeyringError):
    """The ciphertext was sealed under a key this keyring does not hold."""


class DecryptionFailed(KeyringError):
    """The ciphertext was altered, or its associated data does not match."""


class Keyring:
    """Keys by id, newest first: encrypt under the newest, decrypt under whichever sealed it."""

    def __init__(self, keys: Iterable[tuple[str, bytes]], source: str = ENV_NAME):
        self._keys: dict[str, AESGCM] = {}
        self._derivation_key: bytes | None = None
        for position, (key_id, key) in enumerate(keys, 1):
            if not KEY_ID.match(key_id) or len(key) != KEY_BYTES:
                raise KeyringError(f"{source} entry {position} is not a valid key id and {KEY_BYTES}-byte key")
            if key_id in self._keys:
                raise KeyringError(f"{source} entry {position}: key id {key_id!r} is used twice; ids must be unique")
            self._keys[key_id] = AESGCM(key)
            if self._derivation_key is None:
                self._derivation_key = hmac.new(key, b"sylo-derivation", hashlib.sha256).digest()
        if not self._keys:
            raise KeyringError(f"{source} holds no keys")
        self.source = source

    def __repr__(self) -> str:
        return f"Keyring({', '.join(self._keys)} from {self.source})"

    @classmethod
    def from_entries(cls, entries: Iterable[str], source: str = ENV_NAME) -> "Keyring":
        """Parse `<key id>:<base64 key>` entries, newest first; errors never echo key material."""
        return cls([parse_entry(entry, position, source) for position, entry in enumerate(entries, 1)], source)

    @classmethod
    def from_settings(cls, settings) -> "Keyring":
        """`SYLO_ENCRYPTION_KEYS` when set; otherwise a key generated once under the data dir."""
        if settings.encryption_keys:
            return cls.from_entries(key.get_secret_value() for key in settings.encryption_keys)
        return cls.from_file(Path(settings.data_dir) / KEY_FILE)

    @classmethod
    def from_file(cls, path: Path) -> "Keyring":
        """Load the local key file, creating it on first use; production should set the env var."""
        if not path.exists():
            _create_key_file(path)
        if path not in _warned:
            _warned.add(path)
            log.warning("%s is not set: secrets are encrypted with the generated key in %s. "
                        "Set %s in production and keep it out of the data directory.", ENV_NAME, path, ENV_NAME)
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        return cls.from_entries(lines, source=str(path))

    @property
    def current_key_id(self) -> str:
        return next(iter(self._keys))

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def encrypt(self, plaintext: bytes, aad: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self.current_key_id].encrypt(nonce, plaintext, aad)
        return f"{VERSION}:{self.current_key_id}:{_b64url(nonce + sealed)}"

    def decrypt(self, token: str, aad: bytes) -> bytes:
        key_id, data = _split(token)
        if key_id not in self._keys:
            hint = "" if self.source == ENV_NAME else f" (the keyring was loaded from {self.source})"
            raise UnknownKey(f"encrypted under key {key_id!r} which is not in {ENV_NAME}{hint}")
        if len(data) <= NONCE_BYTES:
            raise DecryptionFailed(f"ciphertext under key {key_id!r} is truncated")
        try:
            return self._keys[key_id].decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], aad)
        except InvalidTag:
            raise DecryptionFailed(f"ciphertext under key {key_id!r} failed authentication: "
                                   "altered, or it belongs to another record") from None

    def derive(self, purpose: str) -> bytes:
        """A stable 32-byte key for `purpose` (e.g. signing flash-message cookies), from the newest key."""
        return hmac.new(self._derivation_key, purpose.encode(), hashlib.sha256).digest()

    @staticmethod
    def key_id_of(token: str) -> str:
        return _split(token)[0]


def generate_entry(key_id: str | None = None) -> str:
    """A new `<key id>:<base64 key>` entry for SYLO_ENCRYPTION_KEYS."""
    key_id = key_id or f"k{datetime.now(timezone.utc):%Y%m%d}-{secrets.token_hex(2)}"
    if not KEY_ID.match(key_id):
        raise KeyringError(f"key id {key_id!r} must be 1-32 characters from A-Z a-z 0-9 _ -")
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


def parse_entry(entry: str, position: int, source: str = ENV_NAME) -> tuple[str, bytes]:
    """One `<key id>:<base64 key>` entry; messages name the position and a valid id, never the key."""
    where = f"{source} entry {position}"
    key_id, colon, encoded = entry.strip().partition(":")
    if not colon:
        raise KeyringError(f"{where} is not in the form <key id>:<base64 of {KEY_BYTES} bytes>")
    if not KEY_ID.match(key_id):
        raise KeyringError(f"{where} has an invalid key id: use 1-32 characters from A-Z a-z 0-9 _ -")
    try:
        key = base64.b64decode(encoded.strip().replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"{where} (key id {key_id!r}) is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise KeyringError(f"{where} (key id {key_id!r}) decodes to {len(key)} bytes; "
                           f"AES-256 needs {KEY_BYTES} (`sylo keys generate` makes one)")
    return key_id, key


def _create_key_file(path: Path) -> None:
    """Write a fresh key with mode 0600; when processes race, the first file wins and all use it."""
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(generate_entry("local") + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)  # unlike rename, link never replaces a key another process wrote
    except FileExistsError:
        pass
    except OSError:  # a filesystem without hard links: rename, accepting the narrow race
        if not path.exists():
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _split(token: str) -> tuple[str, bytes]:
    version, _, rest = token.partition(":")
    key_id, _, encoded = rest.partition(":")
    if version != VERSION or not KEY_ID.match(key_id) or not encoded:
        raise KeyringError(f"not a Sylo ciphertext (expected {VERSION}:<key id>:<data>)")
    try:
        return key_id, base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        raise DecryptionFailed(f"ciphertext under key {key_id!r} is not valid base64url") from None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
