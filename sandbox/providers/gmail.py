"""Gmail API v1 behind the proxy (`/gmail/v1/users/{userId}/...`), per reference/providers.md §1.

Google answers in its v1 error envelope, pretty-prints JSON unless `prettyPrint=false`, lists
newest first, omits empty lists, caps `maxResults` at 500, and 404s a too-old `startHistoryId`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from sandbox.http import Reply, Upstream
from sandbox.stores.gmail import HIDDEN_BY_DEFAULT, Mailbox, Message, render_message

ROUTES = Map([
    Rule("/gmail/v1/users/<user>/profile", endpoint="getProfile", methods=["GET"]),
    Rule("/gmail/v1/users/<user>/labels", endpoint="labels.list", methods=["GET"]),
    Rule("/gmail/v1/users/<user>/messages", endpoint="messages.list", methods=["GET"]),
    Rule("/gmail/v1/users/<user>/messages/<message_id>", endpoint="messages.get", methods=["GET"]),
    Rule("/gmail/v1/users/<user>/threads", endpoint="threads.list", methods=["GET"]),
    Rule("/gmail/v1/users/<user>/threads/<thread_id>", endpoint="threads.get", methods=["GET"]),
    Rule("/gmail/v1/users/<user>/history", endpoint="history.list", methods=["GET"]),
], strict_slashes=False)

HISTORY_TYPES = {"messageAdded": "messagesAdded", "messageDeleted": "messagesDeleted",
                 "labelAdded": "labelsAdded", "labelRemoved": "labelsRemoved"}
_TOKEN_STEP = 7919
_PST = timezone(timedelta(hours=-8))  # Gmail reads yyyy/mm/dd in `q` as midnight Pacific


class GmailError(Exception):
    def __init__(self, code: int, message: str, reason: str, status: str, domain: str = "global"):
        super().__init__(message)
        self.reply = Reply(code, {"error": {"code": code, "message": message,
                                            "errors": [{"message": message, "domain": domain, "reason": reason}],
                                            "status": status}}, indent=2)


def error(code: int, message: str, reason: str, status: str, domain: str = "global") -> Reply:
    return GmailError(code, message, reason, status, domain).reply


def not_found() -> GmailError:
    return GmailError(404, "Requested entity was not found.", "notFound", "NOT_FOUND")


def invalid(message: str) -> GmailError:
    return GmailError(400, message, "invalidArgument", "INVALID_ARGUMENT")


def rate_limited(seconds: int | None = None) -> Reply:
    """Gmail's quota answer; whether real Gmail sends Retry-After is unverified, so only faults add it."""
    return error(429, "Resource has been exhausted (e.g. check quota).", "rateLimitExceeded", "RESOURCE_EXHAUSTED")


def server_error() -> Reply:
    return error(500, "Backend Error", "backendError", "INTERNAL")


def dispatch(up: Upstream) -> Reply:
    try:
        endpoint, values = ROUTES.bind("gmail.googleapis.com").match(up.path, method=up.method)
    except NotFound:
        return error(404, "Not Found", "notFound", "NOT_FOUND")
    except MethodNotAllowed:
        return error(405, "Method Not Allowed", "httpMethodNotAllowed", "UNIMPLEMENTED")
    mailbox = up.account.mailbox
    if values.pop("user") not in ("me", mailbox.email):
        return error(403, f"Delegation denied for {mailbox.email}", "forbidden", "PERMISSION_DENIED")
    if up.limits.gmail(mailbox.email, endpoint).retry_after is not None:
        return rate_limited()
    try:
        with up.account.lock:
            reply = HANDLERS[endpoint](up, mailbox, **values)
    except GmailError as exc:
        return exc.reply
    reply.indent = None if up.args.get("prettyPrint") == "false" else 2
    return reply


# -- helpers ---------------------------------------------------------------------------------------


def _max_results(up: Upstream) -> int:
    raw = up.args.get("maxResults", "100")
    if not re.fullmatch(r"[0-9]+", raw):
        raise invalid(f"Invalid value at 'max_results' (TYPE_UINT32), \"{raw}\"")
    return min(500, max(1, int(raw)))


def _encode_token(mailbox: Mailbox, offset: int) -> str:
    return str(offset * _TOKEN_STEP + int(mailbox.email.encode().hex()[:8], 16)).rjust(20, "0")


def _decode_token(mailbox: Mailbox, token: str | None) -> int:
    if not token:
        return 0
    value = int(token) - int(mailbox.email.encode().hex()[:8], 16) if re.fullmatch(r"[0-9]{1,30}", token) else -1
    if value < 0 or value % _TOKEN_STEP:
        raise invalid("Invalid pageToken")
    return value // _TOKEN_STEP


def _page(up: Upstream, mailbox: Mailbox, items: list) -> tuple[list, str | None]:
    size = _max_results(up)
    start = _decode_token(mailbox, up.args.get("pageToken"))
    page = items[start:start + size]
    return page, _encode_token(mailbox, start + size) if start + size < len(items) else None


def _query_filter(q: str, mailbox: Mailbox, now_ms: int):
    """Compile the subset of Gmail search we honour into a predicate; unknown words match text."""
    tests = []
    include_all = False
    for word in q.split():
        key, _, value = word.partition(":")
        key = key.lower() if value else ""
        if key in ("after", "before"):
            bound = _q_time(value)
            tests.append((lambda m, b=bound: m.internal_ms > b) if key == "after" else (lambda m, b=bound: m.internal_ms < b))
        elif key in ("newer_than", "older_than") and re.fullmatch(r"[0-9]+", value[:-1]) and value[-1] in "dmy":
            span = int(value[:-1]) * {"d": 1, "m": 30, "y": 365}[value[-1]] * 86_400_000
            tests.append((lambda m, s=span: m.internal_ms >= now_ms - s) if key == "newer_than"
                         else (lambda m, s=span: m.internal_ms < now_ms - s))
        elif key == "is" and value.lower() in ("unread", "read", "starred", "important"):
            label = {"unread": "UNREAD", "read": "UNREAD", "starred": "STARRED", "important": "IMPORTANT"}[value.lower()]
            wanted = value.lower() != "read"
            tests.append(lambda m, lb=label, w=wanted: (lb in m.label_ids) == w)
        elif key in ("in", "label"):
            if value.lower() == "anywhere":
                include_all = True
                continue
            label = _label_id(mailbox, value)
            include_all = include_all or label in HIDDEN_BY_DEFAULT
            tests.append(lambda m, lb=label: lb in m.label_ids)
        elif key in ("from", "to", "subject"):
            tests.append(lambda m, k=key, v=value.lower(): v in getattr(m, "sender" if k == "from" else k).lower())
        else:
            text = word.lower()
            tests.append(lambda m, t=text: t in m.subject.lower() or t in m.body.lower() or t in m.sender.lower())
    return (lambda m: all(test(m) for test in tests)), include_all


def _q_time(value: str) -> int:
    if value.isdigit():
        return int(value) * 1000
    try:
        day = datetime.strptime(value, "%Y/%m/%d").replace(tzinfo=_PST)
    except ValueError:
        raise invalid(f"Invalid search query date: {value}") from None
    return int(day.timestamp() * 1000)


def _label_id(mailbox: Mailbox, name: str) -> str:
    for label_id, label_name in mailbox.user_labels.items():
        if name.lower() in (label_id.lower(), label_name.lower()):
            return label_id
    return name.upper()


def _matching(up: Upstream, mailbox: Mailbox) -> list[Message]:
    matcher, include_all = _query_filter(up.args.get("q", ""), mailbox, up.clock_ms)
    include_all = include_all or up.args.get("includeSpamTrash") == "true"
    labels = up.args.getlist("labelIds")
    return [m for m in mailbox.ordered()
            if (include_all or not HIDDEN_BY_DEFAULT.intersection(m.label_ids))
            and all(label in m.label_ids for label in labels) and matcher(m)]


def _format(up: Upstream, allowed: tuple[str, ...]) -> str:
    fmt = up.args.get("format", "full")
    if fmt not in allowed:
        raise invalid(f"Invalid value at 'format' ({fmt})")
    return fmt


# -- endpoints ---------------------------------------------------------------------------------------


def get_profile(up: Upstream, mailbox: Mailbox) -> Reply:
    threads = {m.thread_id for m in mailbox.messages.values()}
    return Reply(200, {"emailAddress": mailbox.email, "messagesTotal": len(mailbox.messages),
                       "threadsTotal": len(threads), "historyId": str(mailbox.history_id)})


def list_labels(up: Upstream, mailbox: Mailbox) -> Reply:
    return Reply(200, {"labels": mailbox.labels()})


def list_messages(up: Upstream, mailbox: Mailbox) -> Reply:
    matches = _matching(up, mailbox)
    page, token = _page(up, mailbox, matches)
    out: dict = {}
    if page:
        out["messages"] = [{"id": m.id, "threadId": m.thread_id} for m in page]
    if token:
        out["nextPageToken"] = token
    out["resultSizeEstimate"] = len(matches)
    return Reply(200, out)


def get_message(up: Upstream, mailbox: Mailbox, message_id: str) -> Reply:
    fmt = _format(up, ("minimal", "full", "raw", "metadata"))
    message = mailbox.messages.get(message_id)
    if message is None:
        raise not_found()
    return Reply(200, render_message(message, fmt, up.args.getlist("metadataHeaders")))


def _threads(messages: list[Message]) -> dict[str, list[Message]]:
    threads: dict[str, list[Message]] = {}
    for message in messages:  # newest first, so each thread's first entry is its latest message
        threads.setdefault(message.thread_id, []).append(message)
    return threads


def list_threads(up: Upstream, mailbox: Mailbox) -> Reply:
    """Threads with a matching message, newest first; a thread's historyId is its whole thread's, as threads.get says."""
    threads = _threads(_matching(up, mailbox))
    page, token = _page(up, mailbox, list(threads.items()))
    out: dict = {}
    if page:
        whole = _threads([m for m in mailbox.ordered() if m.thread_id in {tid for tid, _ in page}])
        out["threads"] = [{"id": tid, "snippet": msgs[0].snippet, "historyId": _thread_history_id(whole[tid])}
                          for tid, msgs in page]
    if token:
        out["nextPageToken"] = token
    out["resultSizeEstimate"] = len(threads)
    return Reply(200, out)


def _thread_history_id(messages: list[Message]) -> str:
    """The last history record that touched any of the thread's messages, Trash and Spam included."""
    return str(max(m.history_id for m in messages))


def get_thread(up: Upstream, mailbox: Mailbox, thread_id: str) -> Reply:
    """Every message of the thread (Trash and Spam too, labelled), oldest first, each as messages.get renders it."""
    fmt = _format(up, ("minimal", "full", "metadata"))
    messages = sorted((m for m in mailbox.messages.values() if m.thread_id == thread_id),
                      key=lambda m: (m.internal_ms, m.id))
    if not messages:
        raise not_found()
    headers = up.args.getlist("metadataHeaders")
    return Reply(200, {"id": thread_id, "historyId": _thread_history_id(messages),
                       "messages": [render_message(m, fmt, headers) for m in messages]})


def list_history(up: Upstream, mailbox: Mailbox) -> Reply:
    raw = up.args.get("startHistoryId")
    if raw is None:
        raise GmailError(400, "Required parameter: startHistoryId", "required", "INVALID_ARGUMENT")
    if not re.fullmatch(r"[0-9]+", raw):
        raise invalid(f"Invalid value at 'start_history_id' (TYPE_UINT64), \"{raw}\"")
    start = int(raw)
    if start < mailbox.history_floor:
        raise not_found()
    types = [HISTORY_TYPES.get(t) for t in up.args.getlist("historyTypes")]
    if None in types:
        raise invalid("Invalid value at 'history_types'")
    label = up.args.get("labelId")
    records = []
    for record in mailbox.history_after(start):
        if types:
            record = {k: v for k, v in record.items() if k in ("id", "messages") or k in types}
            if len(record) == 2:
                continue
        if label and not any(label in entry["message"].get("labelIds", []) or label in entry.get("labelIds", [])
                             for key, entries in record.items() if key not in ("id", "messages") for entry in entries):
            continue
        records.append(record)
    page, token = _page(up, mailbox, records)
    out: dict = {}
    if page:
        out["history"] = page
    if token:
        out["nextPageToken"] = token
    out["historyId"] = str(mailbox.history_id)
    return Reply(200, out)


HANDLERS = {
    "getProfile": get_profile, "labels.list": list_labels, "messages.list": list_messages,
    "messages.get": get_message, "threads.list": list_threads, "threads.get": get_thread,
    "history.list": list_history,
}


def corrupt(data: dict) -> dict:
    """Break the first record the way a buggy upstream might (wrong types), keeping its id."""
    if "messages" in data and isinstance(data["messages"], list) and data["messages"]:
        data["messages"][0]["threadId"] = 42
    elif "history" in data:
        data["history"][0]["id"] = {"unexpected": True}
    elif "internalDate" in data:
        data["internalDate"] = "yesterday"
        data["labelIds"] = "INBOX"
    else:
        data["historyId"] = None
    return data


def cursor_expires(up: Upstream) -> bool:
    """History past retention is the Gmail cursor that expires."""
    return up.path.endswith("/history")


def expired_cursor(up: Upstream) -> Reply:
    return not_found().reply

