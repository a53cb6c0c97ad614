"""Documents to bytes: Markdown from `templates/context/`, JSON and YAML from the same data.

`all.md` must fit a token budget. Tokens are estimated as one per four characters, a common
rule of thumb for English text on current LLM tokenizers (no tokenizer is downloaded). Sections
go in order of importance; one that does not fit whole is cut to the items that do, and the end
of the document says what was left out and where to find it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from pipelines.documents.schema import AllDoc, Header
from sylo import services

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "context"
LEFT_OUT_RESERVE = 200  # tokens kept for the "left out" list
YamlDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when available: much faster


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "never"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=False, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True, undefined=StrictUndefined)
    env.filters.update(when=_when, money=lambda value: f"{value:,.2f}",
                       service=lambda name: services.service(name).display_name,
                       plural=lambda n, noun: f"{n} {noun}" if n == 1 else f"{n} {noun}s")
    return env


ENV = _environment()
MACROS = ENV.get_template("_macros.md.j2").module
TEMPLATES_DIGEST = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(TEMPLATE_DIR.glob("*.j2")))).hexdigest()


def to_json(data: dict) -> bytes:
    """Compact JSON (the C encoder; indenting would use the pure-Python one at 5x the cost)."""
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def to_yaml(data: dict) -> bytes:
    """Block-style YAML of JSON-shaped data, emitted by libyaml from events.

    PyYAML's representer (pure Python, a regex resolve per scalar) was half of all compile
    time; the data here is plain JSON, so the events are easy to make directly. Strings are
    always double-quoted, so no value can be read back as a number, a date or a boolean.
    """
    events = [yaml.StreamStartEvent(), yaml.DocumentStartEvent(explicit=False)]
    _events(data, events)
    events += [yaml.DocumentEndEvent(explicit=False), yaml.StreamEndEvent()]
    return yaml.emit(events, Dumper=YamlDumper, allow_unicode=True, width=120).encode()


def _events(value: object, out: list) -> None:
    if isinstance(value, dict):
        out.append(yaml.MappingStartEvent(anchor=None, tag=None, implicit=True, flow_style=False))
        for key, item in value.items():
            out.append(yaml.ScalarEvent(anchor=None, tag=None, implicit=(True, True), value=str(key)))
            _events(item, out)
        out.append(yaml.MappingEndEvent())
    elif isinstance(value, list):
        out.append(yaml.SequenceStartEvent(anchor=None, tag=None, implicit=True, flow_style=not value))
        for item in value:
            _events(item, out)
        out.append(yaml.SequenceEndEvent())
    elif isinstance(value, str):
        out.append(yaml.ScalarEvent(anchor=None, tag=None, implicit=(False, True), value=value, style='"'))
    else:
        out.append(yaml.ScalarEvent(anchor=None, tag=None, implicit=(True, False), value=_plain(value)))


def _plain(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)  # int or float: repr round-trips


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


def _sections(doc: AllDoc) -> list[tuple[str, list, Callable, str]]:
    """(title, items, macro, where the rest lives), most important first."""
    threads = doc.communications.threads
    return [
        ("Overdue invoices", doc.financials.overdue_invoices, MACROS.overdue_invoices, "financials.md"),
        ("Overdue tasks", doc.tasks.overdue, MACROS.tasks, "tasks.md"),
        ("Mail awaiting our reply", [t for t in threads if t.awaiting_reply], MACROS.threads, "communications.md"),
        ("Due in the next 7 days", doc.tasks.due_soon, MACROS.tasks, "tasks.md"),
        ("Active projects", [p for p in doc.projects.projects if not p.archived], MACROS.projects, "projects.md"),
        ("Bills to pay", doc.financials.bills_due, MACROS.bills, "financials.md"),
        ("Invoices due in the next 30 days", doc.financials.due_in_30_days, MACROS.open_invoices, "financials.md"),
        ("Other unread mail", [t for t in threads if t.unread and not t.awaiting_reply], MACROS.threads,
         "communications.md"),
        ("Completed in the last 7 days", doc.tasks.recently_completed, MACROS.tasks, "tasks.md"),
        ("Not matched to a client or project", doc.projects.unmatched, MACROS.unmatched, "projects.md"),
    ]


def _section(title: str, items: list, macro: Callable, where: str, shown: int) -> str:
    body = macro(items[:shown], left=len(items) - shown, where=where)
    return _tidy(f"## {title} ({len(items)})\n\n{body}")


def render_all(doc: AllDoc, budget: int) -> str:
    """The briefing: fixed parts first, then each section whole, cut, or left out, by importance."""
    fixed = [_tidy(f"## Money\n\n{MACROS.money_summary(doc.financials.summary)}")]
    changes = _tidy(MACROS.changes(doc)) if doc.changes else ""
    if changes.strip():
        fixed.append(changes)
    parts, left_out = [], []
    used = estimate_tokens(_assemble(doc, fixed, [], budget)) + LEFT_OUT_RESERVE
    for title, items, macro, where in _sections(doc):
        room = budget - used
        shown = _most_that_fit(lambda n: _section(title, items, macro, where, n), len(items), room)
        if shown is None:
            left_out.append(f"{title}: all {len(items)} (see {where})")
            continue
        text = _section(title, items, macro, where, shown)
        parts.append(text)
        used += estimate_tokens(text)
        if shown < len(items):
            left_out.append(f"{title}: {len(items) - shown} of {len(items)} (see {where})")
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


def _assemble(doc: AllDoc, sections: list[str], left_out: list[str], budget: int) -> str:
    return _tidy(ENV.get_template("all.md.j2").render(doc=doc, sections=sections, left_out=left_out, budget=budget))
