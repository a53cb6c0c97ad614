"""What Nango's webhooks mean for the app DB: verify them, read them, record connection events.

Nango signs the raw body: `X-Nango-Hmac-Sha256` is the lowercase hex HMAC-SHA256 under the
environment's webhook signing key, and after a rotation the old key may still sign for a few
minutes, so any configured key may match (reference/nango.md §5). Auth webhooks become connection
events, which the connections sensor turns into partitions and runs; every other type is ignored.

Nango redelivers on timeouts and 5xx, and primary and secondary URLs both receive, so a delivery
that would change nothing is dropped, and concurrent copies of one delivery collide on a dedupe
key: the body's digest plus the connection state it applied to. The same body after a different
state (broken, repaired, broken again) is a new event.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from sylo.appdb import AppDB, ConnectionEvent
from sylo.appdb.store import UserExists
from sylo.commands.outbox import Outbox
from sylo.export_layout import USER_ID

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Nango-Hmac-Sha256"

# Only the fields we read are typed: a field Nango adds or changes elsewhere must not turn a
# delivery into a 4xx, which Nango never retries.
AUTH_WEBHOOK = {
    "type": "object",
    "description": "Nango's auth webhook: a connection was created, re-authorised, failed to refresh or was deleted.",
    "required": ["type", "operation", "connectionId", "providerConfigKey"],
    "properties": {
        "type": {"const": "auth"},
        "operation": {"type": "string", "description": "creation, override, refresh or deletion; others are ignored."},
        "success": {"type": "boolean"},
        "connectionId": {"type": "string", "minLength": 1, "maxLength": 255},
        "providerConfigKey": {"type": "string", "minLength": 1, "maxLength": 50},
        "tags": {"type": "object", "description": "The connection's tags; `end_user_id` is the Sylo user id."},
        "endUser": {"type": "object", "description": "Deprecated by Nango; `endUserId` when tags lack one."},
        "error": {"type": "object", "properties": {"type": {"type": "string"}, "description": {"type": "string"}}},
    },
}
OTHER_WEBHOOK = {
    "type": "object",
    "description": "Any other webhook (sync, forward, async_action, an unattributed forward): acknowledged, ignored.",
    "properties": {"type": {"not": {"const": "auth"}}},
}
NANGO_WEBHOOK = {"type": "object", "anyOf": [AUTH_WEBHOOK, OTHER_WEBHOOK]}
_VALIDATOR = Draft202012Validator(NANGO_WEBHOOK)

# (operation, success) -> (status, event kind); None matches either outcome.
TRANSITIONS = {
    ("creation", True): ("connected", "connected"),
    ("override", True): ("connected", "reconnected"),
    ("refresh", True): ("connected", "reconnected"),  # a failing connection recovered (Nango PR #7202)
    ("creation", False): ("needs_reauth", "needs_reauth"),
    ("override", False): ("needs_reauth", "needs_reauth"),
    ("refresh", False): ("needs_reauth", "needs_reauth"),
    ("deletion", None): ("disconnected", "disconnected"),  # opt-in in Nango; operation name unverified
}


@dataclass(frozen=True)
class Change:
    """One connection's new status, as an auth webhook reports it."""
    user_id: str
    integration: str
    connection_id: str
    status: str
    kind: str
    error: str | None


@dataclass(frozen=True)
class Receipt:
    """What became of a delivery: recorded, unchanged, duplicate, ignored or refused, and why."""
    outcome: str
    reason: str
    event: ConnectionEvent | None = None


def signature_matches(body: bytes, signature: str | None, keys: Iterable[str]) -> bool:
    """Whether `signature` is the HMAC of `body` under any key, compared in constant time."""
    if not signature:
        return False
    given = signature.strip().lower().encode()
    expected = [hmac.new(key.encode(), body, hashlib.sha256).hexdigest().encode() for key in keys]
    matches = [hmac.compare_digest(given, digest) for digest in expected]  # every key, whichever matches
    return any(matches)


def schema_error(payload: object) -> str | None:
    """Why `payload` is not a webhook Nango sends, or None when it is one."""
    error = best_match(_VALIDATOR.iter_errors(payload))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "the body"
    return f"{where}: {error.message[:200]}"


def receive(appdb: AppDB, payload: dict, body: bytes) -> Receipt:
    """Record what a verified, schema-valid webhook says about a connection."""
    if payload.get("type") != "auth":
        return Receipt("ignored", f"{str(payload.get('type'))[:50]!r} webhooks are not used")
    change = read_change(payload)
    if change is None:
        return Receipt("ignored", f"auth operation {str(payload['operation'])[:50]!r} "
                                  f"(success {payload.get('success')}) changes nothing Sylo tracks")
    if not USER_ID.fullmatch(change.user_id):
        return Receipt("ignored", "the connection has no end_user_id tag naming a Sylo user")
    owner = appdb.connection_owner(change.connection_id, change.integration)
    if owner is not None and owner != change.user_id:
        return refuse_owner_change(appdb, owner, change, str(payload["operation"])[:50])
    if change.status == "connected":
        _ensure_user(appdb, change.user_id)
    elif appdb.get_user(change.user_id) is None:
        return Receipt("ignored", f"user {change.user_id!r} is not a Sylo user")
    return record(appdb, change, body)


def refuse_owner_change(appdb: AppDB, owner: str, change: Change, operation: str) -> Receipt:
    """A connection's owner never changes through a webhook: refuse it, and tell the owner.

    Tags are set when a Connect session is created, so a webhook naming another user for a
    known connection is a mistake or an attack; obeying it would let that user's Disconnect
    delete the owner's connection in Nango."""
    reason = (f"{change.integration} connection {change.connection_id!r} belongs to another user; a {operation} "
              f"webhook naming user {change.user_id!r} cannot move it")
    Outbox(appdb.engine).audit(owner, "connection.refused", "refused", source="nango",
                               detail=f"A Nango {operation} webhook named user {change.user_id!r} for your "
                                      f"{change.integration} connection {change.connection_id!r}; it stays yours.")
    log.warning("refused a Nango %s webhook: %s (owner %r)", operation, reason, owner)
    return Receipt("refused", reason)


def read_change(payload: dict) -> Change | None:
    """The change an auth webhook reports, or None for operations Sylo does not track."""
    operation, success = payload["operation"], payload.get("success")
    transition = TRANSITIONS.get((operation, success)) or TRANSITIONS.get((operation, None))
    if transition is None:
        return None
    status, kind = transition
    integration = payload["providerConfigKey"]
    return Change(_user_id(payload), integration, payload["connectionId"], status, kind,
                  _error(payload, status, integration))


def record(appdb: AppDB, change: Change, body: bytes) -> Receipt:
    """Append the event unless the connection already has this status or this delivery was recorded."""
    current = next((c for c in appdb.connections(change.user_id)
                    if (c.connection_id, c.integration) == (change.connection_id, change.integration)), None)
    if current is not None and (current.status, current.last_error) == (change.status, change.error):
        return Receipt("unchanged", f"the connection is already {change.status}")
    state = current.updated_at.isoformat() if current is not None else "new"
    dedupe_key = "nango:" + hashlib.sha256(body + b"\n" + state.encode()).hexdigest()
    event = appdb.record_connection(user_id=change.user_id, integration=change.integration,
                                    connection_id=change.connection_id, status=change.status, kind=change.kind,
                                    source="webhook", dedupe_key=dedupe_key, error=change.error)
    if event is None:
        return Receipt("duplicate", "this delivery was already recorded")
    return Receipt("recorded", f"{change.integration} is {change.status}", event)


def _user_id(payload: dict) -> str:
    tagged = (payload.get("tags") or {}).get("end_user_id")
    legacy = (payload.get("endUser") or {}).get("endUserId")
    return next((value for value in (tagged, legacy) if isinstance(value, str)), "")


def _error(payload: dict, status: str, integration: str) -> str | None:
    """What the dashboard tells the user: Nango's own reason when it gives one."""
    if status == "connected":
        return None
    if status == "disconnected":
        return f"The {integration} connection was deleted in Nango; connect it again to resume syncing."
    error = payload.get("error") or {}
    reason = error.get("description") or error.get("type")
    return reason if isinstance(reason, str) and reason else f"Nango could not refresh {integration}; reconnect it."


def _ensure_user(appdb: AppDB, user_id: str) -> None:
    """A connection made through a Connect session names its user; the first one creates them."""
    try:
        appdb.ensure_user(user_id)
    except UserExists:  # a concurrent delivery for the same user got there first
        if appdb.get_user(user_id) is None:
            raise
