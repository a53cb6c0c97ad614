"""One Gmail mailbox: messages, labels and the history log, in Gmail's own shapes.

Facts followed (reference/providers.md §1): ids are 16 hex digits and a thread's first message
id is the thread id; historyIds are decimal strings that only grow, with gaps; each message's
historyId is the last history record that touched it; history older than the retention floor
answers 404; lists are newest-first by internalDate and hide SPAM/TRASH by default.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from email.utils import format_datetime
from datetime import datetime, timezone

from sandbox.ids import digest

SYSTEM_LABELS = (
    "INBOX", "SENT", "UNREAD", "IMPORTANT", "STARRED", "TRASH", "SPAM", "DRAFT",
    "CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS", "CATEGORY_UPDATES", "CATEGORY_FORUMS",
)
HIDDEN_BY_DEFAULT = frozenset({"SPAM", "TRASH"})


@dataclass
class Message:
    """A stored message; bodies are kept only so `format=full|raw` can serve them."""

    id: str
    thread_id: str
    label_ids: list[str]
    internal_ms: int
    history_id: int
    sender: str
    to: str
    subject: str
    body: str
    message_id_header: str
    in_reply_to: str | None = None
    extra_headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def snippet(self) -> str:
        """Gmail snippets are the first ~100 characters, HTML-escaped."""
        text = " ".join(self.body.split())
        return html.escape(text[:120], quote=True).replace("&#x27;", "&#39;")

    @property
    def date_header(self) -> str:
        return format_datetime(datetime.fromtimestamp(self.internal_ms / 1000, tz=timezone.utc))

    def headers(self) -> list[dict[str, str]]:
        """Return every header, noise included, in the order a real message carries them."""
        pairs = [
            ("Received", "from mx.example.net by mx.google.com with ESMTPS"),
            ("Received", "by 2002:a05:7300:0:0:0:0 with SMTP"),
            ("MIME-Version", "1.0"),
            ("Date", self.date_header),
            ("Message-ID", self.message_id_header),
            *([("In-Reply-To", self.in_reply_to)] if self.in_reply_to else []),
            ("Subject", self.subject),
            ("From", self.sender),
            ("To", self.to),
            *self.extra_headers,
            ("Content-Type", 'multipart/alternative; boundary="000000000000b0d1"'),
        ]
        return [{"name": name, "value": value} for name, value in pairs]

    @property
    def size_estimate(self) -> int:
        return 2400 + 3 * len(self.body)


@dataclass
class Mailbox:
    """A mailbox with a history log. All mutations go through `_touch` so historyIds stay honest."""

    email: str
    history_id: int
    messages: dict[str, Message] = field(default_factory=dict)
    deleted: dict[str, Message] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    user_labels: dict[str, str] = field(default_factory=dict)
    history_floor: int = 0
    _order: list[Message] | None = None

    # -- mutations ---------------------------------------------------------------------------

    def _next_history_id(self) -> int:
        self.history_id += 1 + digest(self.email, self.history_id)[0] % 9
        return self.history_id

    def _record(self, message: Message, kind: str, extra: dict | None = None) -> None:
        hid = self._next_history_id()
        message.history_id = hid
        ref = {"id": message.id, "threadId": message.thread_id}
        if kind == "messagesAdded":
            typed = {"message": {**ref, "labelIds": list(message.label_ids)}}
        elif kind == "messagesDeleted":
            typed = {"message": ref}
        else:
            typed = {"message": {**ref, "labelIds": list(message.label_ids)}, **(extra or {})}
        self.history.append({"id": str(hid), "messages": [ref], kind: [typed]})

    def insert(self, message: Message, *, record: bool = True) -> None:
        """Deliver a message; `record=False` is for the world's initial backfill (no history)."""
        self.messages[message.id] = message
        self._order = None
        if record:
            self._record(message, "messagesAdded")
        else:
            message.history_id = self._next_history_id()

    def change_labels(self, message_id: str, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> None:
        message = self.messages[message_id]
        added = [label for label in add if label not in message.label_ids]
        removed = [label for label in remove if label in message.label_ids]
        message.label_ids = [label for label in message.label_ids if label not in removed] + added
        if added:
            self._record(message, "labelsAdded", {"labelIds": added})
        if removed:
            self._record(message, "labelsRemoved", {"labelIds": removed})

    def delete(self, message_id: str) -> None:
        """Delete permanently (not Trash): the message is gone and history says messagesDeleted."""
        message = self.messages.pop(message_id)
        self._order = None
        self._record(message, "messagesDeleted")
        self.deleted[message_id] = message

    def expire_history(self) -> None:
        """Forget all history so far: any older startHistoryId now answers 404."""
        self.history.clear()
        self.history_floor = self.history_id

    # -- queries -----------------------------------------------------------------------------

    def ordered(self) -> list[Message]:
        """Messages newest first by internalDate (ties broken by id, also newest first)."""
        if self._order is None:
            self._order = sorted(self.messages.values(), key=lambda m: (m.internal_ms, m.id), reverse=True)
        return self._order

    def history_after(self, start: int) -> list[dict]:
        """History records with id greater than start (the caller has checked the floor)."""
        return [record for record in self.history if int(record["id"]) > start]

    def labels(self) -> list[dict]:
        system = [
            {"id": name, "name": name, "type": "system",
             "messageListVisibility": "hide" if name in HIDDEN_BY_DEFAULT else "show",
             "labelListVisibility": "labelShow"}
            for name in SYSTEM_LABELS
        ]
        user = [
            {"id": label_id, "name": name, "type": "user",
             "messageListVisibility": "show", "labelListVisibility": "labelShow"}
            for label_id, name in self.user_labels.items()
        ]
        return system + user


def render_message(message: Message, fmt: str, metadata_headers: list[str]) -> dict:
    """Render a message the way `users.messages.get` does for the given format."""
    out = {
        "id": message.id,
        "threadId": message.thread_id,
        "labelIds": list(message.label_ids),
        "snippet": message.snippet,
        "sizeEstimate": message.size_estimate,
        "historyId": str(message.history_id),
        "internalDate": str(message.internal_ms),
    }
    if fmt == "minimal":
        return out
    if fmt == "raw":
        out["raw"] = base64.urlsafe_b64encode(_rfc822(message)).decode().rstrip("=")
        return out
    headers = message.headers()
    if fmt == "metadata":
        if metadata_headers:
            wanted = {name.lower() for name in metadata_headers}
            headers = [h for h in headers if h["name"].lower() in wanted]
        out["payload"] = {"mimeType": "multipart/alternative", "headers": headers}
        return out
    out["payload"] = {
        "partId": "", "mimeType": "multipart/alternative", "filename": "", "headers": headers,
        "body": {"size": 0},
        "parts": [_part("0", "text/plain", message.body),
                  _part("1", "text/html", f"<div dir=\"ltr\">{html.escape(message.body)}</div>")],
    }
    return out


def _part(part_id: str, mime: str, text: str) -> dict:
    data = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    return {"partId": part_id, "mimeType": mime, "filename": "",
            "headers": [{"name": "Content-Type", "value": f"{mime}; charset=\"UTF-8\""}],
            "body": {"size": len(text.encode()), "data": data}}


def _rfc822(message: Message) -> bytes:
    lines = [f"{h['name']}: {h['value']}" for h in message.headers() if h["name"] != "Content-Type"]
    lines += ["Content-Type: text/plain; charset=\"UTF-8\"", "", message.body]
    return "\r\n".join(lines).encode()
