"""Links back to Gmail, Asana and Xero: built by Sylo from ids it has checked, never taken from text.

A document links only to the three services, and only through these functions. Gmail and Xero
links are built from the id (a hex thread id, a UUID); Asana's `permalink_url` is kept only when
it has exactly the shape Asana gives it, digits only, ending in the record's own gid. Anything
else gets no link at all. `safe_url` checks again when Markdown is rendered.
"""

from __future__ import annotations

import re
import uuid

GMAIL_THREAD = re.compile(r"[0-9a-f]{1,32}")
ASANA_GID = re.compile(r"[0-9]{1,32}")
ASANA_PERMALINK = re.compile(r"https://app\.asana\.com/(?:1/[0-9]{1,32}/(?:task|project)|0/[0-9]{1,32})/([0-9]{1,32})")
XERO_VIEW = {"invoice": "https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID=",
             "bill": "https://go.xero.com/AccountsPayable/View.aspx?InvoiceID="}
# What a link Sylo built looks like: one of the three services, and only characters that need no
# escaping inside a Markdown link destination.
SAFE_URL = re.compile(r"https://(?:mail\.google\.com|app\.asana\.com|go\.xero\.com)/[A-Za-z0-9/._?=#-]*")


def gmail_thread(thread_id: str | None) -> str | None:
    if thread_id is None or not GMAIL_THREAD.fullmatch(thread_id):
        return None
    return f"https://mail.google.com/mail/u/0/#all/{thread_id}"


def asana(permalink: str | None, gid: str | None) -> str | None:
    """Asana's own permalink for the task or project `gid`, when it is one."""
    if permalink is None or gid is None or not ASANA_GID.fullmatch(gid):
        return None
    match = ASANA_PERMALINK.fullmatch(permalink)
    return permalink if match and match.group(1) == gid else None


def xero(invoice_id: str | None, kind: str) -> str | None:
    """Xero's page for a sales invoice or a bill."""
    try:
        canonical = str(uuid.UUID(invoice_id or ""))
    except ValueError:
        return None
    return XERO_VIEW[kind] + canonical if canonical == invoice_id.lower() else None


def safe_url(url: str | None) -> str | None:
    return url if url is not None and SAFE_URL.fullmatch(url) else None
