"""Gmail: a full listing of threads once, then `history.list` (reference/providers.md §1.3).

The historyId is read from the profile *before* the backfill, so changes made during a long
backfill are replayed afterwards (Nango's approach). A 404 on history means the id is too old:
a clean full resync, whose sweep tombstones whatever vanished meanwhile. Trash and spam count as
deleted. Only headers, snippet, labels and thread are kept, never bodies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from email.utils import getaddresses, parseaddr

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sylo.nango.client import ProviderError
from pipelines.sync.engine import SyncContext
from pipelines.warehouse import Batch, StreamState, Sweep, Tombstones, row_hash

STREAM = "gmail.messages"
TABLE = "gmail_messages"
BASE = "gmail/v1/users/me"
HEADERS = ("From", "To", "Subject", "Date")
DELETED_LABELS = {"TRASH", "SPAM"}


class HistoryExpired(Exception):
    pass


class Header(BaseModel):
    name: str
    value: str


class Payload(BaseModel):
    headers: list[Header] = Field(default_factory=list)


class GmailMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    threadId: str
    labelIds: list[str] = Field(default_factory=list)
    snippet: str = ""
    historyId: int
    internalDate: int
    payload: Payload = Field(default_factory=Payload)

    @field_validator("historyId", "internalDate", mode="before")
    @classmethod
    def _digits(cls, value: object) -> object:
        if isinstance(value, str) and not (value.isascii() and value.isdigit()):
            raise ValueError(f"expected a decimal string, got {value!r}")
        return value

    def header(self, name: str) -> str | None:
        """First header with that name, case-insensitively (real messages repeat some)."""
        return next((h.value for h in self.payload.headers if h.name.lower() == name.lower()), None)


class ThreadRef(BaseModel):
    id: str


class HistoryRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int
    messagesAdded: list[dict] = Field(default_factory=list)
    messagesDeleted: list[dict] = Field(default_factory=list)
    labelsAdded: list[dict] = Field(default_factory=list)
    labelsRemoved: list[dict] = Field(default_factory=list)


def to_row(user_id: str, message: GmailMessage, now: datetime) -> dict:
    labels = sorted(message.labelIds)
    to_header = message.header("To")
    row = {
        "user_id": user_id,
        "id": message.id,
        "thread_id": message.threadId,
        "history_id": message.historyId,
        "internal_date": datetime.fromtimestamp(message.internalDate / 1000, tz=timezone.utc),
        "subject": message.header("Subject"),
        "from_header": message.header("From"),
        "from_email": parseaddr(message.header("From") or "")[1].lower() or None,
        "to_header": to_header,
        "to_emails": ",".join(a.lower() for _, a in getaddresses([to_header or ""]) if a) or None,
        "date_header": message.header("Date"),
        "snippet": message.snippet,
        "label_ids": json.dumps(labels),
        "is_unread": "UNREAD" in labels,
        "is_sent": "SENT" in labels,
        "in_inbox": "INBOX" in labels,
    }
    row["_hash"] = row_hash(row)
    row["_synced_at"] = now
    row["_deleted_at"] = now if DELETED_LABELS & set(labels) else None
    return row


class GmailSource:
    service = "gmail"
    streams = (STREAM,)

    def batches(self, ctx: SyncContext) -> Iterator[Batch]:
        state = ctx.stream(STREAM)
        if (state.cursor or {}).get("mode") == "history":
            try:
                yield from self._history(ctx, state)
                return
            except HistoryExpired:
                ctx.full_resync(f"Gmail history {state.cursor['history_id']} expired (404): full resync")
                state.cursor = None
        yield from self._backfill(ctx, state)

    def cursor_summary(self, ctx: SyncContext) -> str:
        cursor = ctx.stream(STREAM).cursor or {}
        return f"{cursor.get('mode', 'none')}:{cursor.get('history_id', '')}"

    # -- full listing ----------------------------------------------------------------------------

    def _backfill(self, ctx: SyncContext, state: StreamState) -> Iterator[Batch]:
        """List threads, and read each thread's messages in one call: threads.get returns every
        message of a thread with the same metadata messages.get gives, for one request per thread
        instead of one per message (reference/providers.md §1.2)."""
        cursor = state.cursor or {}
        if cursor.get("mode") != "backfill" or cursor.get("list") != "threads":
            profile = ctx.get(f"{BASE}/profile")
            cursor = {"mode": "backfill", "list": "threads", "history_id": str(profile["historyId"]),
                      "page_token": None, "started_at": ctx.now().isoformat()}
        started = datetime.fromisoformat(cursor["started_at"])
        token = cursor.get("page_token")
        while True:
            page = self._list_page(ctx, token)
            refs = ctx.parse_list(ThreadRef, page, "threads", where="threads.list")
            rows = self._fetch_threads(ctx, [ref.id for ref in refs])
            token = page.get("nextPageToken")
            if token:
                state.cursor = {**cursor, "page_token": token}
                yield Batch(rows={TABLE: rows}, states=[state], touch=True)
                continue
            state.cursor = {"mode": "history", "history_id": cursor["history_id"]}
            state.last_full_sync_at = ctx.now()
            yield Batch(rows={TABLE: rows}, sweeps=[Sweep(TABLE, started)], states=[state], touch=True)
            return

    def _list_page(self, ctx: SyncContext, token: str | None) -> dict:
        params = {"maxResults": ctx.settings.gmail_page_size, **({"pageToken": token} if token else {})}
        try:
            return ctx.get(f"{BASE}/threads", params)
        except ProviderError as exc:
            if token and exc.status == 400:  # a checkpointed page token Gmail no longer accepts
                ctx.note("Gmail refused the checkpointed page token; listing restarted from the top")
                return ctx.get(f"{BASE}/threads", {"maxResults": ctx.settings.gmail_page_size})
            raise

    def _fetch_threads(self, ctx: SyncContext, ids: list[str]) -> list[dict]:
        """Every message of these threads; a 404 means the thread was deleted meanwhile."""
        params = {"format": "metadata", "metadataHeaders": list(HEADERS)}

        def one(thread_id: str) -> list[GmailMessage]:
            try:
                raw = ctx.get(f"{BASE}/threads/{thread_id}", params)
            except ProviderError as exc:
                if exc.status == 404:
                    return []
                raise
            return ctx.parse_list(GmailMessage, raw, "messages", where=f"threads.get {thread_id}")

        now = ctx.now()
        return [to_row(ctx.user_id, m, now) for messages in _in_parallel(ctx, one, ids) for m in messages]

    # -- history ------------------------------------------------------------------------------------

    def _history(self, ctx: SyncContext, state: StreamState) -> Iterator[Batch]:
        start = state.cursor["history_id"]
        token = None
        while True:
            params = {"startHistoryId": start, "maxResults": ctx.settings.gmail_page_size,
                      **({"pageToken": token} if token else {})}
            try:
                page = ctx.get(f"{BASE}/history", params)
            except ProviderError as exc:
                if exc.status == 404:
                    raise HistoryExpired() from exc
                raise
            records = [ctx.parse(HistoryRecord, r, where="history.list") for r in page.get("history", [])]
            changed, deleted = _changes(records)
            rows, gone = self._fetch(ctx, changed)
            token = page.get("nextPageToken")
            last = str(records[-1].id) if records else start
            state.cursor = {"mode": "history", "history_id": last if token else str(page["historyId"])}
            yield Batch(rows={TABLE: rows}, tombstones=_tombstones(deleted | gone), states=[state])
            if not token:
                return

    def _fetch(self, ctx: SyncContext, ids: list[str]) -> tuple[list[dict], set[str]]:
        """Fetch message metadata, a few at a time; a 404 means deleted meanwhile."""
        if not ids:
            return [], set()
        params = {"format": "metadata", "metadataHeaders": list(HEADERS)}

        def one(message_id: str) -> GmailMessage | None:
            try:
                raw = ctx.get(f"{BASE}/messages/{message_id}", params)
            except ProviderError as exc:
                if exc.status == 404:
                    return None
                raise
            return ctx.parse(GmailMessage, raw, where=f"messages.get {message_id}")

        messages = _in_parallel(ctx, one, ids)
        now = ctx.now()
        rows = [to_row(ctx.user_id, m, now) for m in messages if m is not None]
        return rows, {i for i, m in zip(ids, messages) if m is None}


def _in_parallel(ctx: SyncContext, fetch, ids: list[str]) -> list:
    """`fetch` each id, a few at a time (Gmail allows about ten concurrent requests per mailbox)."""
    workers = min(ctx.settings.gmail_fetch_workers, len(ids))
    if workers <= 2:  # a thread pool costs more than it saves for a couple of calls
        return [fetch(i) for i in ids]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fetch, ids))


def _changes(records: list[HistoryRecord]) -> tuple[list[str], set[str]]:
    """Ids to re-read and ids deleted, in history order (a later event wins)."""
    last: dict[str, str] = {}
    for record in records:
        for kind in ("messagesAdded", "labelsAdded", "labelsRemoved", "messagesDeleted"):
            for entry in getattr(record, kind):
                message_id = entry.get("message", {}).get("id")
                if not message_id:
                    continue
                if last.get(message_id) != "deleted":
                    last[message_id] = "deleted" if kind == "messagesDeleted" else "changed"
    return [i for i, k in last.items() if k == "changed"], {i for i, k in last.items() if k == "deleted"}


def _tombstones(ids: set[str]) -> list[Tombstones]:
    return [Tombstones(TABLE, sorted(ids))] if ids else []
