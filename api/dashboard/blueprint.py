"""The dashboard's blueprint and what every page shares: headers, error pages, template globals."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from api import sessions
from api.problems import error_page

bp = Blueprint("dashboard", __name__)

# The main navigation: (endpoint, label, icon in static/icons.svg). Pages of one section (a
# command's detail, a confirmation) mark their section as current through `section`.
NAVIGATION = (("dashboard.home", "Home", "home"), ("dashboard.connections", "Connections", "plug"),
              ("dashboard.agents", "Agent setup", "agent"), ("dashboard.permissions", "Permissions", "shield"),
              ("dashboard.context", "Context", "book"), ("dashboard.activity", "Activity", "pulse"))


# Pages that belong to a section of the navigation without being its page.
SECTIONS = {"dashboard.command_detail": "dashboard.activity", "dashboard.confirm_disconnect": "dashboard.connections",
            "dashboard.confirm_delete_data": "dashboard.connections"}


def sylo():
    return current_app.extensions["sylo"]


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    return sessions.security_headers(response)


@bp.errorhandler(HTTPException)
def _error_page(error: HTTPException) -> Response:
    """People get a page, not JSON: what went wrong and where to go next."""
    return error_page(error)


@bp.app_context_processor
def _globals() -> dict:
    page = request.blueprint == "dashboard" or g.get("error_page", False)
    session = sessions.current_session() if page else None
    return {"csrf_token": session.csrf_token if session else "", "signed_in_user": session.user_id if session else None,
            "navigation": NAVIGATION, "current_section": SECTIONS.get(request.endpoint, request.endpoint)}
