"""Standard Webhooks signatures: verify agents' commands, sign what we forward to n8n.

Verification is our own few lines rather than `standardwebhooks.Webhook.verify`, because that
function raises unexpected exceptions on malformed headers (a signature without a comma, bad
base64, a non-UTF-8 body), accepts fractional timestamps, and cannot try several secrets in one
pass or take a clock. Both are held to the spec's known-answer vector in the tests, and the
package signs outbound requests (`sign`) and plays the agent in the tests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone

from standardwebhooks import Webhook

TOLERANCE_SECONDS = 5 * 60
MESSAGE_ID = re.compile(r"[A-Za-z0-9_:-]{1,255}")  # no dots: the id is part of the signed content
TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII only: str.isdigit() also passes "²" and "١٢٣"


class SignatureError(Exception):
    """Why a signature was refused; logged and audited, summarised to the caller."""


def secret_key(secret: str) -> bytes:
    """The HMAC key is the base64-decoded bytes after `whsec_`, not the string."""
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a signing secret is whsec_ followed by base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError("a signing secret holds 24 to 64 random bytes")
    return key


def signed_content(message_id: str, timestamp: str, body: bytes) -> bytes:
    return message_id.encode() + b"." + timestamp.encode() + b"." + body


def check_headers(headers: Mapping[str, str], now: float | None = None) -> tuple[str, str, list[bytes]]:
    """The message id, timestamp and v1 signatures, or SignatureError for anything malformed or stale."""
    message_id = headers.get("webhook-id") or ""
    timestamp = headers.get("webhook-timestamp") or ""
    signature = headers.get("webhook-signature") or ""
    if not (message_id and timestamp and signature):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not MESSAGE_ID.fullmatch(message_id):
        raise SignatureError("webhook-id must be 1-255 characters from A-Z a-z 0-9 _ : -")
    if not TIMESTAMP.fullmatch(timestamp):
        raise SignatureError("webhook-timestamp must be integer Unix seconds")
    skew = int(timestamp) - (time.time() if now is None else now)
    if skew < -TOLERANCE_SECONDS:
        raise SignatureError("webhook-timestamp is more than 5 minutes old")
    if skew > TOLERANCE_SECONDS:
        raise SignatureError("webhook-timestamp is more than 5 minutes in the future")
    signatures = []
    for item in signature.split():
        version, _, encoded = item.partition(",")
        if version != "v1" or not encoded:
            continue  # unknown schemes are skipped, as the spec says
        try:
            signatures.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    if not signatures:
        raise SignatureError("webhook-signature holds no v1 signature")
    return message_id, timestamp, signatures


def matches(secret_keys: Iterable[bytes], message_id: str, timestamp: str, body: bytes,
            signatures: list[bytes]) -> bool:
    """True when any v1 signature is the HMAC of the content under any of the keys (constant time each)."""
    content = signed_content(message_id, timestamp, body)
    found = False
    for key in secret_keys:
        expected = hmac.new(key, content, hashlib.sha256).digest()
        for candidate in signatures:
            found |= hmac.compare_digest(expected, candidate)
    return found


def sign(secret: str, message_id: str, body: bytes, at: datetime | None = None) -> dict[str, str]:
    """Standard Webhooks headers for `body`, signed with the `standardwebhooks` package."""
    at = at or datetime.now(timezone.utc)
    signature = Webhook(secret).sign(message_id, at, body.decode())
    return {"webhook-id": message_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature}
