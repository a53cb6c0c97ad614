"""Documents to bytes: Markdown from `templates/context/`, JSON and YAML from the same data.

`all.md` must fit a token budget. Tokens are estimated as one per four characters, a common
rule of thumb for English text on current LLM tokenizers (no tokenizer is downloaded). Sections
go in order of importance; one that does not fit whole is cut to the items that do, and the end
of the document says what was left out and where to find it.
"""

from __future__ import annotations

import hashlib
import json
from json.encoder import encode_basestring
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from pipelines.documents import links
from pipelines.documents.schema import AllDoc, Header
from pipelines.documents.text import finalize as finalize_text, words
from sylo import services

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "context"
LEFT_OUT_RESERVE = 200  # tokens kept for the "left out" list


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _when(value: datetime | str | None) -> Markup:
    if value is None:
        return Markup("never")
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return Markup(value.strftime("%Y-%m-%d %H:%M UTC"))


def _link(text: object, url: str | None) -> Markup:
    """`text` (quoted, if it is outside data) as a link to a URL Sylo built; only the text if there is none."""
    label = finalize_text(text)
    target = links.safe_url(url)
    return Markup(f"[{label}]({target})") if target else label


def _hours(value: float) -> Markup:
    return Markup(f"{value:g} hour" + ("" if value == 1 else "s"))


def _plural(n: int, noun: str) -> Markup:
    return words(f"{n} {noun}" if n == 1 else f"{n} {noun}s")


def _otherwise(value: str | None, fallback: str) -> object:
    """The value, or Sylo's word for its absence (escaped, not quoted: it is not outside data)."""
    return value if value else words(fallback)


# Built-in filters that cannot turn text into markup. The rest (safe, escape, join, tojson, urlize,
# ...) would let a string through with HTML escaping instead of Markdown escaping, or none.
BUILTIN_FILTERS = {"length", "count", "first", "last", "selectattr", "rejectattr", "list", "sum", "max", "min",
                   "abs", "int", "float", "round", "sort", "reverse", "map", "default", "d"}


def _environment() -> Environment:
    """Jinja for Markdown: any plain string a template prints is outside data, escaped and quoted (text.py)."""
    env = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True, finalize=finalize_text,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=StrictUndefined)
    env.filters = {name: f for name, f in env.filters.items() if name in BUILTIN_FILTERS}
    env.filters.update(when=_when, money=lambda value: Markup(f"{value:,.2f}"), link=_link, hours=_hours,
                       service=lambda name: words(services.service(name).display_name), plural=_plural,
                       words=words, otherwise=_otherwise)
    return env


ENV = _environment()
MACROS = ENV.get_template("_macros.md.j2").module
# Documents are rewritten when their data or the way they are rendered changes: the templates, and
# the escaping and link rules they rely on.
RENDERING = sorted(TEMPLATE_DIR.glob("*.j2")) + [Path(__file__).with_name(name) for name in ("text.py", "links.py")]
TEMPLATES_DIGEST = hashlib.sha256(b"".join(p.read_bytes() for p in RENDERING)).hexdigest()


def to_json(data: dict) -> bytes:
    """Compact JSON (the C encoder; indenting would use the pure-Python one at 5x the cost)."""
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def to_yaml(data: dict) -> bytes:
    """Block-style YAML of JSON-shaped data, written directly.

    The data is plain JSON, so YAML's block style needs no emitter: every string is a JSON string,
    which is a valid YAML double-quoted scalar (the few characters YAML wants escaped that JSON
    leaves raw are escaped too), so no value can be read back as a number, a date or a boolean.
    Building events for libyaml in Python cost more than rendering the Markdown.
    """
    lines: list[str] = []
    _mapping(data, "", lines)
    return ("\n".join(lines) + "\n").encode()


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_YAML_WORDS = {"y", "yes", "n", "no", "on", "off", "true", "false", "null", "~"}
# Characters YAML requires escaped even in double quotes (DEL and C1 controls, line and paragraph
# separators, the byte order mark, surrogates, non-characters), which JSON passes through.
_YAML_UNSAFE = re.compile("[\u007f-\u009f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")


def _mapping(value: dict, pad: str, lines: list[str], first: str | None = None) -> None:
    """A mapping's lines at `pad`; `first` is the prefix of its first line (a list item's `- `)."""
    for index, (key, item) in enumerate(value.items()):
        lead = first if index == 0 and first is not None else pad
        _entry(f"{lead}{_key(key)}:", item, pad, lines)


def _entry(head: str, item: object, pad: str, lines: list[str]) -> None:
    if isinstance(item, dict) and item:
        lines.append(head)
        _mapping(item, pad + "  ", lines)
    elif isinstance(item, list) and item:
        lines.append(head)
        _sequence(item, pad, lines)
    else:
        lines.append(f"{head} {_scalar(item)}")


def _sequence(value: list, pad: str, lines: list[str]) -> None:
    for item in value:
        if isinstance(item, dict) and item:
            _mapping(item, pad + "  ", lines, first=pad + "- ")
        elif isinstance(item, list) and item:
            lines.append(pad + "-")
            _sequence(item, pad + "  ", lines)
        else:
            lines.append(f"{pad}- {_scalar(item)}")


def _key(key: object) -> str:
    text = str(key)
    return text if _PLAIN_KEY.fullmatch(text) and text.lower() not in _YAML_WORDS else _string(text)


def _scalar(value: object) -> str:
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    if isinstance(value, float):
        text = repr(value)
        mantissa, e, exponent = text.partition("e")
        return text if not e or "." in mantissa else f"{mantissa}.0e{exponent}"  # YAML 1.1 floats need a dot
    return repr(value)  # int: repr round-trips


def _string(text: str) -> str:
    quoted = encode_basestring(text)  # what json.dumps(text, ensure_ascii=False) returns, without its dispatch
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted) if _YAML_UNSAFE.search(quoted) else quoted


def to_markdown(doc: Header, budget: int) -> bytes:
    if isinstance(doc, AllDoc):
        return render_all(doc, budget).encode()
    return _tidy(ENV.get_template(f"{doc.kind}.md.j2").render(doc=doc)).encode()


def _tidy(text: str) -> str:
    """Collapse runs of blank lines the templates leave between blocks."""
    lines, blank = [], False
    for line in text.splitlines():
        if not line.strip():
            if not blank and lines:
                lines.append("")
            blank = True
        else:
            lines.append(line.rstrip())
            blank = False
    return "\n".join(lines).rstrip() + "\n"


@dataclass(frozen=True)
class Section:
    """One list in all.md: where its items come from and what to say when there are none."""

    title: str
    body: object  # the body it comes from, which says whether Sylo knows its facts
    list: str  # the macro that lists its items
    items: list
    what: str  # what Sylo cannot speak of when the body is unavailable
    empty: str
    where: Markup  # the document with all of it


def _sections(doc: AllDoc) -> list[Section]:
    """all.md's lists, most important first."""
    money, tasks, mail, projects = doc.financials, doc.tasks, doc.communications, doc.projects
    threads = mail.threads or []
    where = {kind: Markup(f"{kind}.md") for kind in ("financials", "tasks", "communications", "projects")}
    return [
        Section("Overdue invoices", money, "overdue_invoices", money.overdue_invoices or [], "overdue invoices",
                "No invoice is overdue.", where["financials"]),
        Section("Overdue tasks", tasks, "tasks", tasks.overdue or [], "overdue tasks", "No task is overdue.",
                where["tasks"]),
        Section("Mail awaiting our reply", mail, "threads", [t for t in threads if t.awaiting_reply],
                "mail awaiting a reply", "No mail awaits a reply.", where["communications"]),
        Section("Due in the next 7 days", tasks, "tasks", tasks.due_soon or [], "tasks due this week",
                "Nothing is due this week.", where["tasks"]),
        Section("Active projects", projects, "projects", [p for p in projects.projects or [] if not p.archived],
                "projects", "No active projects.", where["projects"]),
        Section("Bills to pay", money, "bills", money.bills_due or [], "bills", "No bills to pay.",
                where["financials"]),
        Section("Invoices due in the next 30 days", money, "open_invoices", money.due_in_30_days or [],
                "invoices falling due", "No invoice falls due in the next 30 days.", where["financials"]),
        Section("Other unread mail", mail, "threads", [t for t in threads if t.unread and not t.awaiting_reply],
                "unread mail", "No other unread mail.", where["communications"]),
        Section("Completed in the last 7 days", tasks, "tasks", tasks.recently_completed or [],
                "completed tasks", "Nothing was completed this week.", where["tasks"]),
        Section("Not matched to a client or project", projects, "unmatched", projects.unmatched or [],
                "what could not be matched", "Everything was matched.", where["projects"]),
    ]


def _fitted(doc: AllDoc, section: Section, room: int) -> tuple[Markup | None, int | None]:
    """The section with as many items as fit the room, and how many that is; (None, None) if none do.

    Each item is rendered once; the tries of the search only join them under the heading.
    """
    lines = [MACROS.listing(section.list, [item], section.body, section.empty) for item in section.items]

    def render(shown: int) -> Markup:
        return Markup(_tidy(MACROS.section(section.title, section.body, doc, Markup("").join(lines[:shown]),
                                           len(lines), shown, section.what, section.empty, section.where)))

    shown = _most_that_fit(render, len(lines), room)
    return (None, None) if shown is None else (render(shown), shown)


def render_all(doc: AllDoc, budget: int) -> str:
    """The briefing: fixed parts first, then each section whole, cut, or left out, by importance."""
    fixed = [Markup(_tidy(MACROS.money(doc.financials, doc)))]
    changes = _tidy(MACROS.changes(doc)) if doc.changes else ""
    if changes.strip():
        fixed.append(Markup(changes))
    parts, left_out = [], []
    used = estimate_tokens(_assemble(doc, fixed, [], budget)) + LEFT_OUT_RESERVE
    for section in _sections(doc):
        total = len(section.items)
        text, shown = _fitted(doc, section, budget - used)
        if text is None:
            left_out.append((section.title, None, total, section.where))
            continue
        parts.append(text)
        used += estimate_tokens(text)
        if shown < total:
            left_out.append((section.title, shown, total, section.where))
    return _assemble(doc, fixed + parts, left_out, budget)


def _most_that_fit(render: Callable[[int], str], total: int, room: int) -> int | None:
    """The largest item count whose section fits the room; None if not even the heading does."""
    if estimate_tokens(render(total)) <= room:
        return total
    low, high = 0, total  # render(low) may fit, render(high) does not
    if estimate_tokens(render(0)) > room:
        return None
    while high - low > 1:
        middle = (low + high) // 2
        if estimate_tokens(render(middle)) <= room:
            low = middle
        else:
            high = middle
    return low


def _assemble(doc: AllDoc, sections: list[Markup], left_out: list[tuple], budget: int) -> str:
    return _tidy(ENV.get_template("all.md.j2").render(doc=doc, sections=sections, left_out=left_out, budget=budget))
