"""The sandbox's Gmail, reached through the Nango proxy, against `../shared/reference/providers.md` §1."""

from __future__ import annotations

import base64
import re

import pytest

from tests.sandbox.reference_client import apply_changes, gmail_list, gmail_pages, proxy_headers

MESSAGES = "/gmail/v1/users/me/messages"
HISTORY = "/gmail/v1/users/me/history"
HIDDEN = {"TRASH", "SPAM"}


class Mailbox:
    """One end user's mailbox as a client sees it: proxy headers, truth and typed helpers."""

    def __init__(self, running):
        self.running = running
        self.nango = running.nango
        self.user = running.user_ids()[0]
        self.headers = proxy_headers(running.connection(self.user, "google-mail"), "google-mail")

    def truth(self) -> dict:
        return self.running.admin.get(f"/users/{self.user}/truth").json()["gmail"]

    def get(self, path: str, **params):
        return self.nango.get("/proxy/gmail/v1/users/me" + path, params=params, headers=self.headers)

    def profile(self) -> dict:
        return self.get("/profile").json()

    def history(self, start: str, **params) -> list[dict]:
        return gmail_list(self.nango, self.headers, HISTORY, "history", {"startHistoryId": start, **params})

    def change(self, kind: str, count: int = 3) -> list[str]:
        return apply_changes(self.running.admin, kind, count, self.user)

    def admin_expire(self):
        return self.running.admin.post(f"/users/{self.user}/gmail/expire-history")


def visible(truth: dict) -> list[dict]:
    """Messages `messages.list` shows by default: not deleted, not in TRASH or SPAM."""
    return [m for m in truth["messages"] if not m["deleted"] and not HIDDEN & set(m["labelIds"])]


def header_names(message: dict) -> list[str]:
    return [h["name"] for h in message["payload"]["headers"]]


def b64url(data: str) -> bytes:
    assert "+" not in data and "/" not in data, "Gmail bodies are base64url"
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


@pytest.fixture(scope="module")
def shared(module_sandbox):
    """A mailbox nobody changes: listing and reading tests."""
    return Mailbox(module_sandbox(users=1))


@pytest.fixture
def mailbox(make_sandbox):
    """A mailbox of its own, for tests that apply change batches."""
    return Mailbox(make_sandbox(users=1))


# -- messages.list -------------------------------------------------------------------------------

def test_list_pages_through_exactly_the_visible_messages(shared):
    pages = list(gmail_pages(shared.nango, shared.headers, MESSAGES, {"maxResults": 37}))
    assert len(pages) > 2
    assert all(len(p["messages"]) == 37 for p in pages[:-1])
    assert "nextPageToken" not in pages[-1] or not pages[-1]["nextPageToken"]
    assert all(isinstance(p["resultSizeEstimate"], int) for p in pages)
    listed = [m for p in pages for m in p["messages"]]
    assert len(listed) == len({m["id"] for m in listed}), "no message twice"
    expected = visible(shared.truth())
    assert {m["id"] for m in listed} == {m["id"] for m in expected}
    threads = {m["id"]: m["threadId"] for m in expected}
    assert all(m["threadId"] == threads[m["id"]] for m in listed)


def test_list_is_newest_first(shared):
    dates = {m["id"]: int(m["internalDate"]) for m in shared.truth()["messages"]}
    listed = [dates[m["id"]] for m in gmail_list(shared.nango, shared.headers, MESSAGES, "messages",
                                                  {"maxResults": 100})]
    assert listed == sorted(listed, reverse=True)


def test_max_results_defaults_to_100_and_is_capped_at_500(make_sandbox):
    big = Mailbox(make_sandbox(users=1, scale=8))  # scale 1 holds fewer than 100 messages
    assert len(visible(big.truth())) > 500
    assert len(big.get("/messages").json()["messages"]) == 100
    assert len(big.get("/messages", maxResults=1000).json()["messages"]) == 500
    assert len(big.get("/messages", maxResults=3).json()["messages"]) == 3


def test_an_empty_list_has_no_messages_key(shared):
    newest = max(int(m["internalDate"]) for m in shared.truth()["messages"])
    page = shared.get("/messages", q=f"after:{newest // 1000 + 86_400}").json()
    assert "messages" not in page
    assert not page.get("nextPageToken")


def test_label_ids_filter_is_an_and(shared):
    expected = {m["id"] for m in visible(shared.truth()) if {"INBOX", "UNREAD"} <= set(m["labelIds"])}
    listed = gmail_list(shared.nango, shared.headers, MESSAGES, "messages",
                        {"labelIds": ["INBOX", "UNREAD"], "maxResults": 500})
    assert expected
    assert {m["id"] for m in listed} == expected


def test_q_after_epoch_seconds_keeps_only_later_messages(shared):
    dates = sorted(int(m["internalDate"]) for m in visible(shared.truth()))
    cut = dates[len(dates) // 2] // 1000
    listed = {m["id"] for m in gmail_list(shared.nango, shared.headers, MESSAGES, "messages",
                                          {"q": f"after:{cut}", "maxResults": 500})}
    # Whether after: reads internalDate or the Date header is UNVERIFIED: judge with an hour's margin.
    margin = 3600
    by_id = {m["id"]: int(m["internalDate"]) // 1000 for m in visible(shared.truth())}
    assert {i for i, s in by_id.items() if s > cut + margin} <= listed
    assert not {i for i, s in by_id.items() if s < cut - margin} & listed
    assert 0 < len(listed) < len(by_id)


def test_q_before_epoch_seconds_keeps_only_earlier_messages(shared):
    by_id = {m["id"]: int(m["internalDate"]) // 1000 for m in visible(shared.truth())}
    cut = sorted(by_id.values())[len(by_id) // 2]
    listed = {m["id"] for m in gmail_list(shared.nango, shared.headers, MESSAGES, "messages",
                                          {"q": f"before:{cut}", "maxResults": 500})}
    margin = 3600  # as for after:, which date before: reads is UNVERIFIED
    assert {i for i, s in by_id.items() if s < cut - margin} <= listed
    assert not {i for i, s in by_id.items() if s > cut + margin} & listed


def test_ids_are_16_hex_and_a_threads_first_message_names_it(shared):
    messages = [m for m in shared.truth()["messages"] if not m["deleted"]]
    assert all(re.fullmatch(r"[0-9a-f]{16}", m["id"]) for m in messages)
    first: dict[str, dict] = {}
    for message in sorted(messages, key=lambda m: int(m["internalDate"])):
        first.setdefault(message["threadId"], message)
    assert all(m["id"] == thread for thread, m in first.items())


def test_threads_list_pages_through_every_thread_with_visible_mail(shared):
    threads = gmail_list(shared.nango, shared.headers, "/gmail/v1/users/me/threads", "threads", {"maxResults": 9})
    assert len(threads) == len({t["id"] for t in threads})
    assert {t["id"] for t in threads} == {m["threadId"] for m in visible(shared.truth())}
    assert all(t["historyId"].isdigit() and isinstance(t["snippet"], str) for t in threads)


def test_threads_get_holds_the_threads_messages(shared):
    truth = visible(shared.truth())
    thread = max({m["threadId"] for m in truth}, key=lambda t: sum(m["threadId"] == t for m in truth))
    body = shared.get(f"/threads/{thread}", format="metadata", metadataHeaders="Subject").json()
    assert body["id"] == thread
    assert {m["id"] for m in body["messages"]} >= {m["id"] for m in truth if m["threadId"] == thread}
    assert all(header_names(m) == ["Subject"] for m in body["messages"])


def biggest_thread(truth: dict) -> str:
    live = [m for m in truth["messages"] if not m["deleted"]]
    return max({m["threadId"] for m in live}, key=lambda t: (sum(m["threadId"] == t for m in live), t))


def label_in_world(mailbox: Mailbox, message_id: str, label: str) -> None:
    """Arrange a state the change batches never make (Spam, a trashed reply) straight in the world."""
    user = mailbox.running.sandbox.world.user(mailbox.user)
    with user.lock:
        user.mailbox.change_labels(message_id, add=(label,), remove=("INBOX",))


METADATA = {"format": "metadata", "metadataHeaders": ["From", "Subject", "Date"]}


def test_threads_get_metadata_gives_each_message_exactly_as_messages_get_does(mailbox):
    thread = biggest_thread(mailbox.truth())
    members = sorted((m for m in mailbox.truth()["messages"] if m["threadId"] == thread),
                     key=lambda m: (int(m["internalDate"]), m["id"]))
    assert len(members) >= 4
    label_in_world(mailbox, members[0]["id"], "TRASH")
    label_in_world(mailbox, members[1]["id"], "SPAM")
    user = mailbox.running.sandbox.world.user(mailbox.user)
    with user.lock:
        user.mailbox.delete(members[2]["id"])  # deleted for good: gone from the thread, as from messages.get
    body = mailbox.get(f"/threads/{thread}", **METADATA).json()
    assert set(body) == {"id", "historyId", "messages"} and body["id"] == thread
    assert [m["id"] for m in body["messages"]] == [m["id"] for m in members if m is not members[2]], \
        "every message not deleted, Trash and Spam included, oldest first"
    for message in body["messages"]:
        assert message == mailbox.get(f"/messages/{message['id']}", **METADATA).json()
        assert {"id", "threadId", "labelIds", "snippet", "historyId", "internalDate", "sizeEstimate",
                "payload"} <= set(message)
        assert header_names(message) and set(header_names(message)) <= {"From", "Subject", "Date"}
    assert "TRASH" in body["messages"][0]["labelIds"] and "SPAM" in body["messages"][1]["labelIds"]
    assert body["historyId"] == str(max(int(m["historyId"]) for m in body["messages"]))


def test_threads_list_and_threads_get_agree_on_a_threads_history_id(mailbox):
    thread = biggest_thread(mailbox.truth())
    oldest = min((m for m in mailbox.truth()["messages"] if m["threadId"] == thread), key=lambda m: m["internalDate"])
    label_in_world(mailbox, oldest["id"], "TRASH")  # the thread's latest change is now on a hidden message
    listed = {t["id"]: t for t in gmail_list(mailbox.nango, mailbox.headers, "/gmail/v1/users/me/threads", "threads",
                                             {"maxResults": 500})}
    assert thread in listed, "a thread with mail outside Trash and Spam is still listed"
    assert listed[thread]["historyId"] == mailbox.get(f"/threads/{thread}", format="minimal").json()["historyId"]


def test_a_thread_wholly_in_trash_is_listed_only_with_include_spam_trash(mailbox):
    [trashed] = mailbox.change("gmail.trash", count=1)
    thread = next(m["threadId"] for m in mailbox.truth()["messages"] if m["id"] == trashed)
    assert [m["id"] for m in mailbox.truth()["messages"] if m["threadId"] == thread] == [trashed], \
        "gmail.trash picks a newsletter, a thread of its own"
    threads = "/gmail/v1/users/me/threads"
    assert thread not in {t["id"] for t in gmail_list(mailbox.nango, mailbox.headers, threads, "threads")}
    assert thread in {t["id"] for t in gmail_list(mailbox.nango, mailbox.headers, threads, "threads",
                                                  {"includeSpamTrash": "true"})}
    body = mailbox.get(f"/threads/{thread}", **METADATA).json()
    assert [m["id"] for m in body["messages"]] == [trashed] and "TRASH" in body["messages"][0]["labelIds"]


def test_a_thread_whose_mail_was_deleted_is_404(mailbox):
    deleted = mailbox.change("gmail.delete", count=1)
    thread = next(m["threadId"] for m in mailbox.truth()["messages"] if m["id"] == deleted[0])
    assert not [m for m in mailbox.truth()["messages"] if m["threadId"] == thread and not m["deleted"]], \
        "gmail.delete picks a newsletter, a thread of its own"
    response = mailbox.get(f"/threads/{thread}", **METADATA)
    assert response.status_code == 404 and response.json()["error"]["errors"][0]["reason"] == "notFound"


@pytest.mark.parametrize(("fmt", "status"), [("full", 200), ("minimal", 200), ("metadata", 200), ("raw", 400)])
def test_threads_get_formats(shared, fmt, status):
    thread = biggest_thread(shared.truth())
    response = shared.get(f"/threads/{thread}", format=fmt)
    assert response.status_code == status, response.text
    if status == 200:
        first = response.json()["messages"][0]
        assert first == shared.get(f"/messages/{first['id']}", format=fmt).json()


# -- messages.get --------------------------------------------------------------------------------

def test_metadata_format_returns_only_the_asked_headers(shared):
    message_id = shared.get("/messages", maxResults=1).json()["messages"][0]["id"]
    message = shared.get(f"/messages/{message_id}", format="metadata", metadataHeaders=["From", "To", "Subject"]).json()
    assert message["id"] == message_id
    assert set(header_names(message)) == {"From", "To", "Subject"}
    assert "body" not in message["payload"] and "parts" not in message["payload"]
    assert message["payload"]["mimeType"]
    assert isinstance(message["sizeEstimate"], int)
    assert message["internalDate"].isdigit() and message["historyId"].isdigit()


def test_metadata_without_a_filter_returns_every_header(shared):
    message_id = shared.get("/messages", maxResults=1).json()["messages"][0]["id"]
    names = header_names(shared.get(f"/messages/{message_id}", format="metadata").json())
    assert {"From", "To", "Subject", "Date"} <= set(names)


def test_minimal_format_has_no_payload(shared):
    message_id = shared.get("/messages", maxResults=1).json()["messages"][0]["id"]
    message = shared.get(f"/messages/{message_id}", format="minimal").json()
    assert message["id"] == message_id
    assert "payload" not in message
    assert isinstance(message["labelIds"], list)


def test_full_format_has_a_base64url_body_tree(shared):
    message_id = shared.get("/messages", maxResults=1).json()["messages"][0]["id"]
    message = shared.get(f"/messages/{message_id}", format="full").json()
    payload = message["payload"]
    assert {"partId", "mimeType", "filename", "headers", "body"} <= set(payload)
    parts = payload.get("parts") or [payload]
    texts = [b64url(p["body"]["data"]) for p in parts if p["body"].get("data")]
    assert texts and all(len(t) == p["body"]["size"] for t, p in zip(texts, [p for p in parts if p["body"].get("data")]))
    assert shared.get(f"/messages/{message_id}").json() == message  # full is the default


def test_raw_format_is_the_base64url_rfc2822_message(shared):
    message_id = shared.get("/messages", maxResults=1).json()["messages"][0]["id"]
    message = shared.get(f"/messages/{message_id}", format="raw").json()
    assert "payload" not in message
    assert b"Subject:" in b64url(message["raw"])


def test_get_of_an_unknown_id_is_googles_404(shared):
    response = shared.get("/messages/0123456789abcdef")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["message"] == "Requested entity was not found."
    assert error["code"] == 404 and error["status"] == "NOT_FOUND"
    assert error["errors"][0]["reason"] == "notFound"


def test_profile_matches_the_mailbox(shared):
    truth, profile = shared.truth(), shared.profile()
    assert profile["emailAddress"] == truth["email"]
    assert profile["historyId"] == truth["historyId"]
    assert isinstance(profile["messagesTotal"], int) and isinstance(profile["threadsTotal"], int)


def test_labels_list_holds_the_system_labels(shared):
    labels = {label["id"]: label for label in shared.get("/labels").json()["labels"]}
    assert {"INBOX", "SENT", "TRASH", "SPAM", "UNREAD"} <= set(labels)
    assert labels["INBOX"]["type"] == "system"


# -- history.list --------------------------------------------------------------------------------

def test_history_reports_added_messages(mailbox):
    start = mailbox.profile()["historyId"]
    added = mailbox.change("gmail.client_reply")
    assert added
    records = mailbox.history(start)
    ids = [int(r["id"]) for r in records]
    assert ids == sorted(ids) and ids[0] > int(start)
    assert set(added) <= {a["message"]["id"] for r in records for a in r.get("messagesAdded", [])}
    listed = {m["id"] for m in mailbox.get("/messages", maxResults=10).json()["messages"]}
    assert set(added) <= listed, "a new reply is the newest mail"


def test_a_messages_history_id_is_the_last_record_that_touched_it(mailbox):
    start = mailbox.profile()["historyId"]
    read = mailbox.change("gmail.mark_read", count=1)
    assert read
    records = mailbox.history(start)
    touching = [int(r["id"]) for r in records if read[0] in {m["id"] for m in r["messages"]}]
    assert touching
    assert mailbox.get(f"/messages/{read[0]}", format="minimal").json()["historyId"] == str(max(touching))


def test_history_ends_at_the_profiles_history_id(mailbox):
    start = mailbox.profile()["historyId"]
    mailbox.change("gmail.client_reply")
    last = mailbox.get("/history", startHistoryId=start).json()
    assert last["historyId"] == mailbox.profile()["historyId"] == mailbox.truth()["historyId"]
    assert int(last["historyId"]) > int(start)


@pytest.mark.parametrize(("kind", "typed_list", "label"), [
    ("gmail.mark_read", "labelsRemoved", "UNREAD"),
    ("gmail.archive", "labelsRemoved", "INBOX"),
    ("gmail.trash", "labelsAdded", "TRASH"),
])
def test_history_reports_label_changes(mailbox, kind, typed_list, label):
    start = mailbox.profile()["historyId"]
    changed = mailbox.change(kind)
    assert changed
    records = mailbox.history(start)
    touched = {entry["message"]["id"] for r in records for entry in r.get(typed_list, []) if label in entry["labelIds"]}
    assert set(changed) <= touched


def test_trashed_messages_leave_the_default_list(mailbox):
    trashed = mailbox.change("gmail.trash")
    default = {m["id"] for m in gmail_list(mailbox.nango, mailbox.headers, MESSAGES, "messages", {"maxResults": 500})}
    everything = {m["id"] for m in gmail_list(mailbox.nango, mailbox.headers, MESSAGES, "messages",
                                              {"maxResults": 500, "includeSpamTrash": "true"})}
    assert trashed and not set(trashed) & default
    assert set(trashed) <= everything


def test_history_reports_deleted_messages_and_get_is_404(mailbox):
    start = mailbox.profile()["historyId"]
    deleted = mailbox.change("gmail.delete")
    assert deleted
    records = mailbox.history(start)
    assert set(deleted) <= {d["message"]["id"] for r in records for d in r.get("messagesDeleted", [])}
    for message_id in deleted:
        response = mailbox.get(f"/messages/{message_id}", format="metadata")
        assert response.status_code == 404
        assert response.json()["error"]["errors"][0]["reason"] == "notFound"
    listed = {m["id"] for m in gmail_list(mailbox.nango, mailbox.headers, MESSAGES, "messages",
                                          {"maxResults": 500, "includeSpamTrash": "true"})}
    assert not set(deleted) & listed


def test_history_pages_with_the_same_start(mailbox):
    start = mailbox.profile()["historyId"]
    mailbox.change("gmail.client_reply", count=6)
    whole = mailbox.history(start)
    paged = mailbox.history(start, maxResults=2)
    assert len(whole) > 2
    assert paged == whole


def test_history_types_filter(mailbox):
    start = mailbox.profile()["historyId"]
    mailbox.change("gmail.mark_read")
    mailbox.change("gmail.client_reply")
    records = mailbox.history(start, historyTypes="messageAdded")
    assert records and all(r.get("messagesAdded") for r in records)
    assert not any(r.get("labelsRemoved") for r in records)


def test_quota_is_counted_in_units_per_method(make_sandbox):
    limited = Mailbox(make_sandbox(users=1, limits={"gmail_units_per_minute": 13}))
    start = limited.profile()["historyId"]  # 1 unit
    # messages.list costs 5 units and history.list 2 (providers.md §1.5, same in the 2026 model)
    assert [limited.get("/messages").status_code for _ in range(2)] == [200, 200]
    assert limited.get("/history", startHistoryId=start).status_code == 200
    response = limited.get("/history", startHistoryId=start)
    assert response.status_code in (429, 403)
    error = response.json()["error"]
    assert error["code"] == response.status_code
    assert error["errors"][0]["reason"] in ("rateLimitExceeded", "userRateLimitExceeded")
    if response.status_code == 403:
        assert error["errors"][0]["domain"] == "usageLimits"


def test_threads_calls_cost_10_units_each(make_sandbox):
    """threads.list and threads.get cost 10 units, messages.get 5 (providers.md §1.5, legacy table)."""
    limited = Mailbox(make_sandbox(users=1, limits={"gmail_units_per_minute": 25}))
    thread = limited.get("/threads", maxResults=1).json()["threads"][0]["id"]  # 10
    assert limited.get(f"/threads/{thread}", format="metadata").status_code == 200  # 20
    message = limited.truth()["messages"][0]["id"]
    assert limited.get(f"/messages/{message}", format="metadata").status_code == 200  # 25
    assert limited.get(f"/threads/{thread}", format="metadata").status_code in (429, 403)


@pytest.mark.parametrize("ahead", [0, 5])
def test_history_from_the_current_id_or_later_has_only_history_id(shared, ahead):
    current = shared.profile()["historyId"]
    response = shared.get("/history", startHistoryId=str(int(current) + ahead))
    assert response.status_code == 200
    assert response.json() == {"historyId": current}


def test_expired_history_is_googles_404_and_a_fresh_start_works(mailbox):
    start = mailbox.profile()["historyId"]
    mailbox.change("gmail.client_reply")
    assert mailbox.admin_expire().status_code == 200
    response = mailbox.get("/history", startHistoryId=start)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == 404 and error["status"] == "NOT_FOUND"
    assert error["errors"][0]["reason"] == "notFound"
    fresh = mailbox.profile()["historyId"]
    assert mailbox.get("/history", startHistoryId=fresh).status_code == 200


def test_a_start_older_than_any_history_is_404(shared):
    response = shared.get("/history", startHistoryId="1")
    assert response.status_code == 404
    assert response.json()["error"]["errors"][0]["reason"] == "notFound"
