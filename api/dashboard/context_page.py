"""The Context page: a summary of what needs attention, then the current document, section by section.

The summary and the freshness come from the document's JSON; the sections from its Markdown,
rendered with raw HTML off (a document cannot inject markup) and each folded under its heading.
The document's own header (title, the note about quoted text, "As of" and the sources) is left
out, because the page says the same once, above.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from flask import Response, g, render_template, request
from markdown_it import MarkdownIt
from markdown_it.token import Token

from api import sessions
from api.dashboard.blueprint import bp, sylo as _sylo
from api.document_store import KINDS, TITLES
from sylo.services import service as find_service

MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")

# A source's state (documents' `freshness[].state`) in the owner's words.
STATES = {"current": "Up to date", "stale": "Behind", "paused": "Paused until its daily limit resets",
          "failing": "Last sync failed", "needs_reconnect": "Needs you to sign in again",
          "disconnected": "Disconnected", "first_sync": "First sync under way", "not_connected": "Not connected"}
TONES = {"current": "ok", "first_sync": "neutral", "not_connected": "neutral", "disconnected": "neutral"}


@dataclass(frozen=True)
class Section:
    """One `##` section of a document: its anchor, its heading and its body, both as HTML."""

    id: str
    heading: str
    body: str


@dataclass(frozen=True)
class Figure:
    """One number of the summary, or why Sylo does not know it."""

    key: str  # money | tasks | mail
    label: str
    href: str
    value: str | None  # None: not known
    note: str = ""
    tone: str = "neutral"
    currency: str | None = None


@bp.get("/context")
@sessions.signed_in
def context() -> Response:
    """The summary, the freshness once, and the chosen document's sections, folded."""
    kind = request.args.get("kind", "all")
    kind = kind if kind in KINDS else "all"
    store = _sylo().documents
    markdown = store.read(g.user_id, kind, "md")
    briefing = read_json(g.user_id, "all")
    intro, sections = split_sections(markdown.body.decode()) if markdown else ("", [])
    return render_template("dashboard/context.html", kinds=[(k, TITLES[k]) for k in KINDS], kind=kind,
                           intro=intro, sections=sections, as_of=briefing.get("as_of"),
                           sources=sources(briefing), figures=summary(briefing), exported=markdown is not None)


def read_json(user_id: str, kind: str) -> dict:
    """The user's exported JSON document of `kind`, or {} before the first export."""
    document = _sylo().documents.read(user_id, kind, "json")
    return json.loads(document.body) if document else {}


def sources(document: dict) -> list[dict]:
    """Each source's freshness in plain words, with a tone for its badge."""
    return [{"service": item["service"], "name": _display(item["service"]),
             "state": STATES.get(item.get("state"), (item.get("state") or "unknown").replace("_", " ").capitalize()),
             "tone": TONES.get(item.get("state"), "warn"), "last_success_at": item.get("last_success_at")}
            for item in document.get("freshness", [])]


def summary(document: dict) -> list[Figure]:
    """Money owed and overdue, overdue tasks, mail awaiting a reply: each a number, or why it is not known."""
    if not document:
        return []
    link = "?kind=all#"
    figures = _money(document, link + "overdue-invoices")
    tasks, mail = document.get("tasks") or {}, document.get("communications") or {}
    overdue = tasks.get("overdue")
    figures.append(_figure(document, tasks, "tasks", "Overdue tasks", link + "overdue-tasks",
                           None if overdue is None else len(overdue), "past their due date in Asana"))
    figures.append(_figure(document, mail, "mail", "Mail awaiting a reply", link + "mail-awaiting-our-reply",
                           mail.get("awaiting_reply"), "threads where the other side wrote last"))
    return figures


def _money(document: dict, href: str) -> list[Figure]:
    money = document.get("financials") or {}
    if unknown(money) or money.get("summary") is None:
        return [Figure("money", "Money owed to the studio", href, None, _why_unknown(document, money))]
    if not money["summary"]:
        return [Figure("money", "Money owed to the studio", href, "0", "Nothing owed" + _outdated(money), "ok")]
    return [Figure("money", f"Owed to the studio ({row['currency']})", href, amount(row["receivables_outstanding"]),
                   (f"{amount(row['receivables_overdue'])} overdue across {count(row['overdue_invoices'], 'invoice')}"
                    if row["overdue_invoices"] else "none overdue") + _outdated(money),
                   "bad" if row["overdue_invoices"] else "ok", row["currency"])
            for row in money["summary"]]


def _figure(document: dict, body: dict, key: str, label: str, href: str, number: int | None, note: str) -> Figure:
    if unknown(body) or number is None:
        return Figure(key, label, href, None, _why_unknown(document, body))
    return Figure(key, label, href, str(number), note + _outdated(body), "warn" if number else "ok")


def unknown(body: dict) -> bool:
    """Whether a body's source is not connected or never synced: its lists and counts are null."""
    return (body.get("availability") or {}).get("status") == "unavailable"


def _outdated(body: dict) -> str:
    return " · may be out of date" if (body.get("availability") or {}).get("status") == "outdated" else ""


def _why_unknown(document: dict, body: dict) -> str:
    """"Xero: not connected", from the body's sources and their freshness: why a figure is not known."""
    states = {item["service"]: item.get("state") for item in document.get("freshness", [])}
    reasons = [f"{_display(name)}: {STATES.get(states.get(name), 'no data yet').lower()}"
               for name in (body.get("availability") or {}).get("services", [])]
    return "; ".join(reasons) if reasons else "No data yet"


def _display(service: str) -> str:
    try:
        return find_service(service).display_name
    except KeyError:
        return service


def amount(value: float) -> str:
    """12,345.60"""
    return f"{value:,.2f}"


def count(number: int, noun: str) -> str:
    """"1 task", "3 tasks"."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


# -- the document, section by section --------------------------------------------------------


def split_sections(markdown: str) -> tuple[str, list[Section]]:
    """The HTML before the first `##` (header left out) and each `##` section as its own HTML."""
    tokens = _without_header(MARKDOWN.parse(markdown))
    starts = [i for i, token in enumerate(tokens) if token.type == "heading_open" and token.tag == "h2"]
    intro = _render(tokens[:starts[0] if starts else len(tokens)])
    sections, seen = [], set()
    for start, end in zip(starts, starts[1:] + [len(tokens)]):
        inline = tokens[start + 1]
        anchor = _anchor(inline.content, seen)
        sections.append(Section(anchor, _render([inline]), _render(tokens[start + 3:end])))
    return intro, sections


def _without_header(tokens: list[Token]) -> list[Token]:
    """Drop the header every document opens with: `# Title`, two paragraphs, then the list of sources."""
    shape = ["heading_open", "paragraph_open", "paragraph_open", "bullet_list_open"]
    blocks = _top_level_blocks(tokens)
    if [tokens[start].type for start, _ in blocks[:4]] == shape and tokens[0].tag == "h1":
        return tokens[blocks[3][1]:]
    return tokens


def _top_level_blocks(tokens: list[Token]) -> list[tuple[int, int]]:
    """(start, end) of each top-level block, by nesting level."""
    blocks, start = [], None
    for i, token in enumerate(tokens):
        if token.level == 0 and token.nesting == 1:
            start = i
        elif token.level == 0 and token.nesting == -1 and start is not None:
            blocks.append((start, i + 1))
            start = None
        elif token.level == 0 and token.nesting == 0:
            blocks.append((i, i + 1))
    return blocks


def _render(tokens: list[Token]) -> str:
    if tokens and tokens[0].type == "inline":
        return MARKDOWN.renderer.renderInline(tokens[0].children or [], MARKDOWN.options, {})
    return MARKDOWN.renderer.render(tokens, MARKDOWN.options, {})


def _anchor(heading: str, seen: set[str]) -> str:
    """`Overdue invoices (7)` or `Overdue invoices (not known)` -> `overdue-invoices`, unique on the page."""
    words = re.sub(r"\s*\([^()]*\)\s*$", "", heading)
    anchor = re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-") or "section"
    while anchor in seen:
        anchor += "-more"
    seen.add(anchor)
    return anchor
