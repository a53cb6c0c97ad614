"""Errors as RFC 9457 problem details (`application/problem+json`), one shape for every route.

Each problem has a stable `type` an agent can branch on (`urn:sylo:problem:<slug>`), a short
`title`, the HTTP `status` and a `detail` that says what to do. Details never carry secrets.

People get pages instead: an error on a dashboard page (404, 405, 500...), and an address no
route knows when the browser asks for HTML, are answered with an HTML page in the dashboard's
style that says what happened and where to go. Agents and scripts, which ask for JSON or for
anything (`*/*`), keep getting problem details, on every route.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g, json, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError, NotFound
from werkzeug.routing import RequestRedirect

PROBLEM_JSON = "application/problem+json"
logger = logging.getLogger(__name__)

# What a person reads on an error page, by status: a heading and what to do. Sylo's own words;
# a view's `description` (also Sylo's words) is shown beneath when it says more.
PAGES = {
    400: ("That request could not be read", "Go back and try again."),
    403: ("That did not go through", "Reload the page you came from and try again."),
    404: ("There is nothing here", "The address may be mistyped, or the page has moved."),
    405: ("That page cannot be opened this way", "Use the buttons on the dashboard's pages rather than "
                                                 "typing or bookmarking this address."),
    410: ("This link no longer works", "Ask for a new one."),
    413: ("That was too large to accept", "Try again with less."),
    429: ("Too many tries", "Wait a few minutes, then try again."),
    500: ("Something went wrong on our side", "It has been logged. Try again in a minute."),
}


class Problem(Exception):
    """Raise from a view to answer with a problem document."""

    def __init__(self, status: int, slug: str, title: str, detail: str, headers: dict | None = None, **extra):
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> Response:
        body = {"type": f"urn:sylo:problem:{self.slug}", "title": self.title, "status": self.status,
                "detail": self.detail, "instance": request.path, **self.extra}
        response = Response(json.dumps(body), status=self.status, mimetype=PROBLEM_JSON)
        response.headers.update(self.headers)
        response.headers["Cache-Control"] = "no-store"
        return response


def from_http_exception(error: HTTPException) -> Problem:
    """Werkzeug's own errors (404 for unknown routes, 405, 413...) in the same shape."""
    slug = (error.name or "error").lower().replace(" ", "-")
    headers = {}
    if error.code == 405:
        headers["Allow"] = ", ".join(sorted(error.valid_methods or []))
    return Problem(error.code or 500, slug, error.name or "Error", error.description or "", headers)


def error_page(error: HTTPException) -> Response:
    """The dashboard's error page for `error`, with its status and headers (Allow, Retry-After)."""
    from api.sessions import security_headers

    status = error.code or 500
    heading, advice = PAGES.get(status, (error.name or "Something went wrong", "Go back and try again."))
    own_words = error.description if error.description and type(error).description != error.description else None
    g.error_page = True  # the page shows the navigation of whoever is signed in
    page = render_template("dashboard/error.html", status=status, heading=heading, advice=advice, detail=own_words)
    response = Response(page, status=status, mimetype="text/html")
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    response.headers["Cache-Control"] = "no-store"
    return security_headers(response)


def wants_page(error: HTTPException | None = None) -> bool:
    """Whether this error goes to a person as a page: dashboard routes, and unknown ones asked for as HTML."""
    if request.blueprint == "dashboard" or _endpoint_of_path() in ("static", "dashboard"):
        return True
    unknown_route = isinstance(error, NotFound) and request.url_rule is None
    return unknown_route and _prefers_html()


def _prefers_html() -> bool:
    """A browser's Accept (text/html first); `*/*` and JSON keep problem details."""
    accepted = request.accept_mimetypes
    return accepted.best_match(["application/json", PROBLEM_JSON, "text/html"]) == "text/html" \
        and accepted["text/html"] > accepted["application/json"]


def _endpoint_of_path() -> str | None:
    """The blueprint (or `static`) owning this path under any method: a 405 has no url_rule of its own."""
    if request.url_rule is not None:
        return request.url_rule.endpoint.partition(".")[0]
    adapter = current_app.url_map.bind_to_environ(request.environ)
    for method in ("GET", "POST"):
        try:
            endpoint, _ = adapter.match(method=method)
        except (HTTPException, RequestRedirect):
            continue
        return endpoint.partition(".")[0]
    return None


def _http_error(error: HTTPException) -> Response:
    return error_page(error) if wants_page(error) else from_http_exception(error).response()


def unexpected(error: Exception) -> Response:
    """Log the failure with its traceback; tell the caller only that it happened."""
    logger.exception("unhandled error on %s %s", request.method, request.path)
    if wants_page():
        return error_page(InternalServerError())
    return Problem(500, "internal-error", "Internal Server Error",
                   "Something went wrong on our side; it has been logged. Try again shortly.").response()


def register(app: Flask) -> None:
    app.register_error_handler(Problem, lambda problem: problem.response())
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, unexpected)

