"""Activity: what agents did and tried, and n8n's health in plain words."""

from __future__ import annotations

from flask import Response, g, render_template, request, url_for

from api import sessions
from api.dashboard.blueprint import bp, sylo as _sylo
from sylo.commands import health as delivery_health

PAGE_SIZE = 25


@bp.get("/activity")
@sessions.signed_in
def activity() -> Response:
    """What agents did and tried, newest first."""
    before = request.args.get("before", type=int)
    entries = _sylo().commands.outbox.audit_entries(g.user_id, before_id=before, limit=PAGE_SIZE + 1)
    more = len(entries) > PAGE_SIZE
    entries = entries[:PAGE_SIZE]
    return render_template("dashboard/activity.html", entries=entries, n8n_problem=_n8n_problem(),
                           older=url_for("dashboard.activity", before=entries[-1].id) if more else None)


def _n8n_problem() -> str | None:
    """What is wrong with n8n, in plain words, while deliveries keep failing the same way."""
    current = delivery_health.current(_sylo().appdb.engine)
    return current.sentence(_sylo().settings) if current is not None and current.failing else None
