"""The read fast path: `GET`/`HEAD /v1/context/<kind>[.<fmt>]` with a static API token, answered before Flask.

Agents read documents far more often than they do anything else, and for a document that has not
changed most of a request's cost was Flask itself (request context, routing, hooks, the response
object), not the work. This WSGI layer sits in front of the Flask app and answers only the plain
case: a GET or HEAD of a document path, no query string, a live static `sylo_` token, and a
document the token may read that exists (200) or matches `If-None-Match` (304). It decides nothing
itself: the token lookup is `api.auth.static_caller` (the same cached lookup as Flask's
`authenticate`), the answer is `api.context.document_reply` (kinds, negotiation, ETag, caching
headers), and the metrics go through `api.ops.observe` under the Flask route's own template.
Everything else (no or unknown token, an OAuth token, an unknown kind, a kind the token may not read,
nothing exported, 406, a NUL or a query string, any other path or method) falls through to Flask,
so every problem document stays exactly Flask's. `tests/api/test_fastpath.py` holds the two paths
to the same status, headers and body.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from api.auth import parse_bearer, static_caller
from api.context import document_reply
from api.ops import observe
from api.problems import Problem

PREFIX = "/v1/context/"
STATUS_LINES = {200: "200 OK", 304: "304 NOT MODIFIED"}  # as werkzeug words them


class FastPath:
    """WSGI middleware: documents for static tokens here, everything else to `app`."""

    def __init__(self, app: Callable, sylo, route: str):
        self.app, self.sylo, self.route = app, sylo, route

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        reply = self._reply(environ)
        if reply is None:
            return self.app(environ, start_response)
        headers = list(reply.headers.items())
        if reply.status == 200:
            headers += [("Content-Type", reply.media_type), ("Content-Length", str(len(reply.body)))]
        start_response(STATUS_LINES[reply.status], headers)
        method = environ["REQUEST_METHOD"]
        observe(self.route, method, reply.status, time.perf_counter() - started)
        return [reply.body] if reply.status == 200 and method == "GET" else []

    def _reply(self, environ: dict):
        """The answer when this request is the plain case, else None (Flask answers it)."""
        path = environ.get("PATH_INFO", "")
        if (not path.startswith(PREFIX) or environ.get("REQUEST_METHOD") not in ("GET", "HEAD")
                or environ.get("QUERY_STRING") or environ.get("SCRIPT_NAME")):
            return None
        name = path[len(PREFIX):]
        token = parse_bearer(environ.get("HTTP_AUTHORIZATION", ""))
        if not name or "/" in name or token is None:
            return None
        caller = static_caller(self.sylo.appdb, token)
        if caller is None:
            return None
        try:
            return document_reply(self.sylo.documents, caller, name, environ.get("HTTP_ACCEPT"),
                                  environ.get("HTTP_IF_NONE_MATCH"))
        except Problem:
            return None


def install(app) -> None:
    """Put the fast path in front of `app`'s WSGI callable, labelled with the Flask route it stands for."""
    route = next(rule.rule for rule in app.url_map.iter_rules("context.get_document"))
    app.wsgi_app = FastPath(app.wsgi_app, app.extensions["sylo"], route)
