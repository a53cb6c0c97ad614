"""The ceiling for bench/serve.py: a minimal WSGI file server over the same export, no auth.

    gunicorn -c python:sylo.gunicorn_conf 'bench.static_app:create_app()'

`GET /<user_id>/context/all.md` answers the file's bytes, read from disk on every request, with
the ETag the API would send (SHA-256 of the bytes, computed once at start-up); a matching
`If-None-Match` gets a 304. What the API costs beyond this is Flask, auth and the app DB lookup.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sylo.settings import Settings


def create_app(root: Path | None = None):
    """A WSGI app serving every file under the export root (default: SYLO_DATA_DIR's exports)."""
    root = Path(root or Settings().exports)
    etags = {"/" + path.relative_to(root).as_posix(): '"' + hashlib.sha256(path.read_bytes()).hexdigest() + '"'
             for path in root.rglob("*") if path.is_file()}

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        etag = etags.get(path)
        if etag is None:
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        headers = [("ETag", etag), ("Cache-Control", "private, no-cache")]
        if environ.get("HTTP_IF_NONE_MATCH") == etag:
            start_response("304 Not Modified", headers)
            return [b""]
        body = (root / path[1:]).read_bytes()
        start_response("200 OK", headers + [("Content-Type", "text/markdown; charset=utf-8"),
                                            ("Content-Length", str(len(body)))])
        return [body]

    return app
