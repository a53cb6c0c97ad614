"""The Context page: the current documents, rendered, with each source's freshness."""

from __future__ import annotations

import json

from flask import Response, g, render_template, request
from markdown_it import MarkdownIt

from api import sessions
from api.dashboard.blueprint import bp, sylo as _sylo
from api.document_store import KINDS, TITLES

MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


@bp.get("/context")
@sessions.signed_in
def context() -> Response:
    """The current documents, rendered, with their freshness."""
    kind = request.args.get("kind", "all")
    kind = kind if kind in KINDS else "all"
    store = _sylo().documents
    markdown = store.read(g.user_id, kind, "md")
    header = store.read(g.user_id, kind, "json")
    meta = json.loads(header.body) if header else {}
    return render_template("dashboard/context.html", kinds=[(k, TITLES[k]) for k in KINDS], kind=kind,
                           html=MARKDOWN.render(markdown.body.decode()) if markdown else None,
                           as_of=meta.get("as_of"), freshness=meta.get("freshness", []))
