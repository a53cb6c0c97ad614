"""Errors as RFC 9457 problem details (`application/problem+json`), one shape for every route.

Each problem has a stable `type` an agent can branch on (`urn:sylo:problem:<slug>`), a short
`title`, the HTTP `status` and a `detail` that says what to do. Details never carry secrets.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

PROBLEM_JSON = "application/problem+json"
logger = logging.getLogger(__name__)


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


def unexpected(error: Exception) -> Response:
    """Log the failure with its traceback; tell the caller only that it happened."""
    logger.exception("unhandled error on %s %s", request.method, request.path)
    return Problem(500, "internal-error", "Internal Server Error",
                   "Something went wrong on our side; it has been logged. Try again shortly.").response()


def register(app: Flask) -> None:
    app.register_error_handler(Problem, lambda problem: problem.response())
    app.register_error_handler(HTTPException, lambda error: from_http_exception(error).response())
    app.register_error_handler(Exception, unexpected)
