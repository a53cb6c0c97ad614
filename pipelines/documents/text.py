"""Untrusted text: what Gmail, Asana and Xero hold is data, never markup or instructions.

Anyone who can email a studio or name an Asana task writes into its documents, and agents read
those documents as their briefing. So every string that comes from outside Sylo is:

1. **folded** when the document is built (`fold`, used by the schema's `Untrusted` types): control
   characters and line breaks become spaces, invisible characters (zero-width, bidirectional
   controls, Unicode tags, variation selectors) are removed, runs of spaces collapse, and the
   text is cut to a length per kind of field. JSON, YAML and Markdown all carry the folded text;
2. **escaped and quoted** when Markdown is rendered (`quote`): every ASCII punctuation character
   is backslash-escaped, which CommonMark (spec section 2.4) defines as a literal character, so the
   text can open no link, image, heading, list, code, table cell, HTML tag or entity; it is
   wrapped in double quotes, the marker documents explain in their header.

Markdown templates get this by default: the environment's `finalize` quotes every plain string
an expression yields (`{{ task.name }}`), the way autoescaping works for HTML. Only Sylo's own
markup passes unquoted: template text, macros, and the filters that format numbers, dates and
links (`render.py`).
"""

from __future__ import annotations

import re
import string
import unicodedata
from datetime import date
from decimal import Decimal
from functools import lru_cache

from markupsafe import Markup

# The longest text kept per kind of field, in characters; longer text ends in "…".
CAPS = {
    "name": 200,  # subjects, task, project and group names, invoice references
    "person": 120,  # counterparts, assignees, contacts, suppliers
    "code": 40,  # invoice numbers, currencies
    "detail": 300,  # error messages from a service
}
ELLIPSIS = "…"
_ESCAPES = str.maketrans({c: "\\" + c for c in string.punctuation})
_INLINE_ESCAPES = str.maketrans({c: "\\" + c for c in "\\`*_[]<>&|~"})
# Invisible characters that change how text reads without showing: variation selectors, which
# can smuggle data past a reader, and the categories removed below (format, surrogate).
_VARIATION_SELECTORS = {*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)}
_REMOVED = {"Cf", "Cs"}  # format (zero-width, bidi controls, tags, BOM, soft hyphen); lone surrogates
_SPACES = {"Cc", "Zl", "Zp", "Zs"}  # controls (newlines, tabs, escapes), line/paragraph separators
_ASCII_CONTROLS = {code: " " for code in (*range(32), 127)}
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@lru_cache(maxsize=8192)
def _visible(char: str) -> str:
    """A non-ASCII character as it is kept: itself, a space, or nothing."""
    category = unicodedata.category(char)
    if category in _SPACES:
        return " "
    return "" if category in _REMOVED or ord(char) in _VARIATION_SELECTORS else char


def fold(value: str, limit: int = max(CAPS.values())) -> str:
    """One line of visible text, at most `limit` characters."""
    text = value.translate(_ASCII_CONTROLS)
    if not text.isascii():  # most names are ASCII: only the rest needs a look per character
        text = _NON_ASCII.sub(lambda match: _visible(match.group()), text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + ELLIPSIS


def folder(kind: str):
    """The folding for one kind of field (a pydantic validator); None stays None."""
    limit = CAPS[kind]
    return lambda value: fold(value, limit) if isinstance(value, str) else value


def escape(text: str) -> str:
    """Backslash-escape every ASCII punctuation character: literal text in CommonMark."""
    return text.translate(_ESCAPES)


def quote(value: str) -> Markup:
    """Untrusted text as inert Markdown, in the double quotes that mark data from outside Sylo."""
    return Markup(f'"{escape(fold(value))}"')  # folded again: a template may print text the schema never saw


def words(value: str) -> Markup:
    """Sylo's own words (a reason, a title) as Markdown text, without the quotes of outside data.

    Only the characters that open inline markup are escaped: the text is Sylo's, so it needs to
    stay literal, not to be defended against.
    """
    return Markup(" ".join(str(value).split()).translate(_INLINE_ESCAPES))


def finalize(value: object) -> object:
    """What `{{ expression }}` prints: Sylo's markup as it is, numbers and dates as text, any string quoted."""
    if isinstance(value, Markup):
        return value
    if value is None:
        raise TypeError("a template printed None: say what an absent value means instead")
    if isinstance(value, (bool, int, float, Decimal, date)):
        return Markup(str(value))
    return quote(str(value))
