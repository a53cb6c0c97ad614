"""What an agent may read: the document kinds an API token or an OAuth grant allows.

The kinds come from the export's own list (`sylo.export_layout.KINDS`). A token or grant is
limited to some of the four document kinds (`projects`, `communications`, `tasks`,
`financials`); `all` is the briefing made of every one of them, so only a token that may read
every kind may read `all` (a briefing with parts cut out would read as "nothing overdue" when the
truth is "not yours to see"). Stored as one space-separated column; NULL means every kind, so
tokens and grants made before limits existed, and any kind added later, stay readable by default.
"""

from __future__ import annotations

from collections.abc import Iterable

from sylo.export_layout import KINDS

BRIEFING = "all"
PARTS = tuple(kind for kind in KINDS if kind != BRIEFING)  # the kinds a token can be limited to
# Each kind as the consent page and Agent setup name it, for an owner ticking or unticking it.
WORDS = {"projects": "Projects and their clients", "communications": "Email threads", "tasks": "Tasks",
         "financials": "Invoices, bills and money owed"}


def parse(stored: str | None) -> tuple[str, ...]:
    """The kinds a stored column allows, in the export's order; NULL is every kind."""
    if stored is None:
        return PARTS
    named = set(stored.split())
    return tuple(kind for kind in PARTS if kind in named)


def to_column(kinds: Iterable[str] | None) -> str | None:
    """What to store for `kinds`: NULL for every kind (None means every kind too)."""
    if kinds is None:
        return None
    chosen = checked(kinds)
    return None if chosen == PARTS else " ".join(chosen)


def checked(kinds: Iterable[str]) -> tuple[str, ...]:
    """Kinds named by a person (CLI, form), in canonical order; ValueError naming any unknown one."""
    named = {kind.strip() for kind in kinds if kind.strip()}
    unknown = sorted(named - set(PARTS))
    if unknown:
        raise ValueError(f"unknown document kind {', '.join(map(repr, unknown))}; kinds are {', '.join(PARTS)}"
                         + (" (all is every kind: leave the limit out)" if BRIEFING in unknown else ""))
    return tuple(kind for kind in PARTS if kind in named)


def may_read(kinds: tuple[str, ...], kind: str) -> bool:
    """Whether `kinds` allow reading `kind`: `all` needs every kind."""
    if kind == BRIEFING:
        return set(PARTS) <= set(kinds)
    return kind in kinds


def readable(kinds: tuple[str, ...]) -> tuple[str, ...]:
    """Every document kind `kinds` allow, `all` included when they allow each part, in the export's order."""
    return tuple(kind for kind in KINDS if may_read(kinds, kind))


def describe(kinds: tuple[str, ...]) -> str:
    """In words for pages and messages: 'every kind' or 'financials and tasks'."""
    if set(PARTS) <= set(kinds):
        return "every kind"
    if not kinds:
        return "no documents"
    return ", ".join(kinds[:-1]) + (" and " if len(kinds) > 1 else "") + kinds[-1]
