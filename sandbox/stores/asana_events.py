"""Asana's event streams for one workspace: what changed, who sees it, and the sync tokens.

Facts followed (reference/providers.md §2.3 "Events API", from Asana's OpenAPI and guides):
events "bubble up", so one change is seen on the stream of the task and of its project; a
stream hands out at most 100 events per call with `has_more`; a sync token is good for 24 hours
of the world's clock (events are kept that long) and re-reading the current token is safe.
Tokens are opaque 32-hex strings derived from the stream's state, so the same world and the
same calls give the same tokens.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sandbox.ids import token_hex

SYNC_TTL_MS = 24 * 3_600_000
EVENTS_PER_CALL = 100


def iso_ms(ms: int) -> str:
    """Format epoch milliseconds as Asana does: `2026-04-27T19:48:41.758Z`."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@dataclass(frozen=True)
class Event:
    """One change as Asana reports it; `streams` are the resources whose subscribers see it."""

    seq: int
    at_ms: int
    action: str
    resource: dict
    parent: dict | None
    user: dict | None
    change: dict | None
    streams: tuple[str, ...]

    def json(self) -> dict:
        """The event as `GET /events` returns it (`change` only on `changed`, per the OpenAPI)."""
        out = {"user": self.user, "created_at": iso_ms(self.at_ms), "type": self.resource["resource_type"],
               "action": self.action, "resource": self.resource, "parent": self.parent}
        if self.change is not None:
            out["change"] = self.change
        return out


@dataclass
class SyncToken:
    resource: str
    position: int  # the last event sequence number this token has covered
    issued_ms: int


@dataclass
class EventLog:
    """Every event of the workspace, indexed by stream, and the sync tokens handed out."""

    workspace_gid: str
    events: list[Event] = field(default_factory=list)
    by_stream: dict[str, list[Event]] = field(default_factory=dict)
    tokens: dict[str, SyncToken] = field(default_factory=dict)
    epoch: int = 0  # bumped by each expiry, so a fresh token never repeats an expired one

    @property
    def head(self) -> int:
        return len(self.events)

    def record(self, at_ms: int, action: str, resource: dict, streams: tuple[str, ...], *,
               parent: dict | None = None, user: dict | None = None, change: dict | None = None) -> Event:
        """Append one event and file it under every stream that sees it."""
        event = Event(self.head + 1, at_ms, action, resource, parent, user, change, tuple(dict.fromkeys(streams)))
        self.events.append(event)
        for stream in event.streams:
            self.by_stream.setdefault(stream, []).append(event)
        return event

    def after(self, resource: str, position: int) -> list[Event]:
        """Events of one stream newer than position, oldest first."""
        stream = self.by_stream.get(resource, [])
        return stream[bisect.bisect_right(stream, position, key=lambda e: e.seq):]

    def issue(self, resource: str, position: int, now_ms: int) -> str:
        """Hand out the token for a stream at position; the same state gives the same token."""
        self._forget_expired(now_ms)
        token = token_hex(16, "asana-sync", self.workspace_gid, resource, position, now_ms, self.epoch)
        self.tokens.setdefault(token, SyncToken(resource, position, now_ms))
        return token

    def redeem(self, token: str | None, resource: str, now_ms: int) -> SyncToken | None:
        """The token's state if it is this stream's, known and younger than 24 hours; else None."""
        found = self.tokens.get(token or "")
        if found is None or found.resource != resource or now_ms - found.issued_ms >= SYNC_TTL_MS:
            return None
        return found

    def expire(self, resource: str | None = None) -> int:
        """Invalidate every token of one stream (or of all streams) now; return how many."""
        doomed = [t for t, state in self.tokens.items() if resource is None or state.resource == resource]
        for token in doomed:
            del self.tokens[token]
        self.epoch += 1
        return len(doomed)

    def revoke(self, token: str) -> None:
        """Invalidate one token now (Asana may expire tokens early under load)."""
        self.tokens.pop(token, None)
        self.epoch += 1

    def _forget_expired(self, now_ms: int) -> None:
        for token in [t for t, s in self.tokens.items() if now_ms - s.issued_ms >= SYNC_TTL_MS]:
            del self.tokens[token]
