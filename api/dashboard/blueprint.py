"""The dashboard's blueprint and what every page shares: headers, error pages, template globals."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request
from werkzeug.exceptions import HTTPException

from api import sessions

bp = Blueprint("dashboard", __name__)


def sylo():
    return current_app.extensions["sylo"]


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    return sessions.security_headers(response)


@bp.errorhandler(HTTPException)
def _error_page(error: HTTPException) -> tuple[str, int]:
    """People get a page, not JSON: what went wrong and where to go next."""
    return render_template("dashboard/error.html", error=error), error.code or 500


@bp.app_context_processor
def _globals() -> dict:
    session = sessions.current_session() if request.blueprint == "dashboard" else None
    return {"csrf_token": session.csrf_token if session else "", "signed_in_user": session.user_id if session else None}
