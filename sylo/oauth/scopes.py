"""What an OAuth grant may do, in the words the consent page and Agent setup use.

`context:read` covers the documents (resources, the read tools, prompts); `commands:write` the
action tools. A static `sylo_` API token has both. Issue 17 adds per-grant document kinds beside
these; they narrow `context:read`, so they live in their own column, not in the scope string.
"""

from __future__ import annotations

READ, WRITE = "context:read", "commands:write"
SCOPES = {
    READ: "Read your studio's context documents: projects and clients, email threads, tasks, invoices and bills.",
    WRITE: "Act in your name: create, complete and comment on Asana tasks, draft and send email, create draft "
           "invoices and send payment reminders in Xero, and post or make videos through your n8n.",
}
ALL = (READ, WRITE)


def parse(scope: str | None) -> tuple[str, ...]:
    """The known scopes in `scope` (space-separated), in canonical order; unknown ones dropped."""
    asked = set((scope or "").split())
    return tuple(s for s in ALL if s in asked)


def join(scopes) -> str:
    return " ".join(s for s in ALL if s in set(scopes))
