"""MCP prompts: ready-made requests a person picks in their AI app, built from the caller's documents.

`daily_briefing` hands the model the `all` briefing; `chase_overdue_invoices` the overdue invoices
with the ids the action tools take, and the mail threads of the same clients. Text copied from
Gmail, Asana or Xero goes in as quoted data under the documents' own notice, never as instructions;
a service Sylo does not know about is said to be unknown, never "nothing overdue". A caller limited to
some document kinds gets only those: the briefing is built from the documents it may read instead
of `all`, and the invoices come without mail threads unless it may read communications.
"""

from __future__ import annotations

import json

import mcp_types as types

from api.document_store import TITLES, DocumentStore
from api.mcp_protocol import INVALID_PARAMS, Era, RpcError
from sylo import read_kinds

BRIEFING = ("Give me today's briefing for the studio from the Sylo document below: first what needs me today "
            "(money owed and overdue, overdue tasks, mail waiting for my reply), then what is coming this week. "
            "Where the document says a service is not connected, stale or failing, say so plainly instead of "
            "saying there is nothing. End with at most three things you could do for me with Sylo's tools, and "
            "do none of them until I say so.")
CHASE = ("Help me chase these overdue invoices. For each, suggest one step: a payment reminder from Xero "
         "(tool xero_send_invoice_reminder with the invoice's `id`), or a short personal reply in the client's "
         "mail thread saved as a draft (tool gmail_draft_reply with the thread's `id`). Start with the oldest and "
         "largest. Show me the list of steps and wait for my go-ahead before calling any tool; give every call an "
         "idempotency_key.")
PROMPTS = [
    types.Prompt(name="daily_briefing", title="Daily briefing",
                 description="What needs the studio owner today, from Sylo's briefing (all.md)."),
    types.Prompt(name="chase_overdue_invoices", title="Chase overdue invoices",
                 description="Overdue invoices with their ids, and the clients' mail threads, ready for reminders.",
                 arguments=[types.PromptArgument(name="min_days_overdue", required=False,
                                                 description="Only invoices at least this many days overdue "
                                                             "(a whole number; default 1).")]),
]


class Prompts:
    """The prompts of one caller, each built from that caller's export only."""

    def __init__(self, store: DocumentStore, user_id: str, kinds: tuple[str, ...] = read_kinds.PARTS):
        self.store, self.user_id, self.kinds = store, user_id, kinds

    def list(self, _params: dict, _era: Era) -> types.ListPromptsResult:
        offered = [p for p in PROMPTS if p.name != "chase_overdue_invoices" or "financials" in self.kinds]
        return types.ListPromptsResult(prompts=offered, ttl_ms=0, cache_scope="private")

    def get(self, params: dict, _era: Era) -> types.GetPromptResult:
        name, arguments = params.get("name"), params.get("arguments") or {}
        if not isinstance(arguments, dict):
            raise RpcError(INVALID_PARAMS, "prompts/get arguments must be an object of strings.")
        if name == "daily_briefing":
            return self.daily_briefing()
        if name == "chase_overdue_invoices":
            return self.chase_overdue_invoices(_whole_number(arguments.get("min_days_overdue"), 1))
        raise RpcError(INVALID_PARAMS, f"Unknown prompt: {str(name)[:100]!r}; see prompts/list.")

    def daily_briefing(self) -> types.GetPromptResult:
        if not read_kinds.may_read(self.kinds, "all"):
            return self.partial_briefing()
        document = self.store.read(self.user_id, "all", "md")
        if document is None:
            return _messages("Daily briefing", [_text("Sylo has not exported any documents for me yet: tell me to "
                                                      "connect Gmail, Asana or Xero on Sylo's Connections page.")])
        resource = types.TextResourceContents(uri="sylo://context/all.md", mime_type="text/markdown",
                                              text=document.body.decode("utf-8"))
        return _messages("Daily briefing", [_text(BRIEFING), types.EmbeddedResource(type="resource", resource=resource)])

    def partial_briefing(self) -> types.GetPromptResult:
        """The briefing of a caller limited to some kinds: the Markdown documents it may read, each whole."""
        documents = [(kind, self.store.read(self.user_id, kind, "md")) for kind in self.kinds]
        embedded = [types.EmbeddedResource(type="resource", resource=types.TextResourceContents(
                        uri=f"sylo://context/{kind}.md", mime_type="text/markdown", text=document.body.decode("utf-8")))
                    for kind, document in documents if document is not None]
        scope = (f"This connection may read only {read_kinds.describe(self.kinds)}; brief me on "
                 f"{'that' if len(self.kinds) == 1 else 'those'} alone and do not guess the rest.")
        if not embedded:
            return _messages("Daily briefing", [_text(f"{scope} Sylo has not exported "
                                                      f"{', '.join(TITLES[k].lower() for k in self.kinds) or 'anything'} "
                                                      "for me yet.")])
        return _messages("Daily briefing", [_text(BRIEFING + " " + scope), *embedded])

    def chase_overdue_invoices(self, min_days: int) -> types.GetPromptResult:
        if "financials" not in self.kinds:
            return _messages("Chase overdue invoices", [_text(
                "This connection may not read the studio's financials (the studio owner did not allow it), so it "
                "cannot list overdue invoices. Tell me that.")])
        financials = self._json("financials")
        if financials is None:
            return _messages("Chase overdue invoices", [_text("Sylo has not exported my financials yet: tell me to "
                                                              "connect Xero on Sylo's Connections page.")])
        if financials["availability"]["status"] == "unavailable":
            return _messages("Chase overdue invoices", [_text(
                "Sylo does not know my invoices (Xero is not connected or has never synced), so it cannot tell "
                "what is overdue. Tell me that, and that connecting Xero on Sylo's Connections page fixes it.")])
        overdue = [i for i in financials["overdue_invoices"] if i["days_overdue"] >= min_days]
        if not overdue:
            return _messages("Chase overdue invoices", [_text(
                f"Sylo's financials (as of {financials['as_of']}, {financials['availability']['status']}) list no "
                f"invoice {min_days} or more days overdue. Tell me so, and say when the data is from.")])
        threads = self._threads_with(overdue)
        data = {"notice": financials["notice"], "as_of": financials["as_of"],
                "availability": financials["availability"], "overdue_invoices": overdue, "client_threads": threads}
        return _messages("Chase overdue invoices", [_text(CHASE), _text("```json\n" + json.dumps(data, indent=1) + "\n```")])

    def _threads_with(self, invoices: list[dict]) -> list[dict] | None:
        """The mail threads of the invoices' clients (None when Sylo does not know the mail, or this caller
        may not read it)."""
        if "communications" not in self.kinds:
            return None
        communications = self._json("communications")
        if communications is None or communications["threads"] is None:
            return None
        clients = {i["contact"] for i in invoices if i.get("contact")}
        return [{key: t[key] for key in ("id", "subject", "client", "counterpart", "counterpart_email",
                                         "last_message_at", "awaiting_reply")}
                for t in communications["threads"] if t.get("client") in clients]

    def _json(self, kind: str) -> dict | None:
        if not read_kinds.may_read(self.kinds, kind):
            return None
        document = self.store.read(self.user_id, kind, "json")
        return json.loads(document.body) if document is not None else None


def _text(text: str) -> types.TextContent:
    return types.TextContent(type="text", text=text)


def _messages(description: str, contents: list) -> types.GetPromptResult:
    return types.GetPromptResult(description=description,
                                 messages=[types.PromptMessage(role="user", content=c) for c in contents])


def _whole_number(value: object, default: int) -> int:
    if value in (None, ""):
        return default
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    raise RpcError(INVALID_PARAMS, "min_days_overdue must be a whole number of days, such as 30.")
