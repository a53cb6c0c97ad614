"""A threaded HTTP/1.1 server with keep-alive, running a WSGI app, that can drop connections.

Why not Werkzeug's development server: it closes every connection (no keep-alive), which makes
a benchmark measure TCP handshakes, and it cannot reset a socket on purpose. This adapter is
the stdlib's `ThreadingHTTPServer` plus the few lines of WSGI glue the sandbox needs.
"""

from __future__ import annotations

import io
import logging
import socket
import struct
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

log = logging.getLogger("sandbox.server")

WSGIApp = Callable[[dict, Callable], object]


class DropConnection(Exception):
    """Raised by the app to reset the client's connection without any response."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sylo-sandbox/1"
    sys_version = ""
    # Headers and body leave in one segment: separate small writes meet Nagle + delayed ACK (40 ms).
    disable_nagle_algorithm = True
    wbufsize = 1 << 16

    def _serve(self) -> None:
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._respond("411 Length Required", [("Content-Type", "text/plain")], [b"chunked bodies unsupported"])
            self.close_connection = True
            return
        body = self.rfile.read(int(length)) if length else b""
        try:
            status, headers, chunks = self._call_app(body)
        except DropConnection:
            self._reset()
            return
        self._respond(status, headers, chunks)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def _call_app(self, body: bytes) -> tuple[str, list[tuple[str, str]], list[bytes]]:
        captured: dict = {}

        def start_response(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: captured.setdefault("writes", []).append(data)

        result = self.server.app(self._environ(body), start_response)
        try:
            chunks = captured.get("writes", []) + list(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return captured["status"], captured["headers"], chunks

    def _environ(self, body: bytes) -> dict:
        path, _, query = self.path.partition("?")
        environ = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, "latin-1"),
            "RAW_URI": self.path,
            "QUERY_STRING": query,
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _respond(self, status: str, headers: list[tuple[str, str]], chunks: list[bytes]) -> None:
        code, _, reason = status.partition(" ")
        payload = b"" if self.command == "HEAD" else b"".join(chunks)
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def _reset(self) -> None:
        """Close with RST (SO_LINGER 0), as a peer or middlebox dropping the connection does."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], app: WSGIApp):
        self.app = app
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return  # the client went away; nothing to report
        log.exception("sandbox request from %s failed", client_address)


class ServerThread:
    """Run a WSGI app on a free (or given) port in a daemon thread."""

    def __init__(self, app: WSGIApp, host: str = "127.0.0.1", port: int = 0):
        self.httpd = SandboxHTTPServer((host, port), app)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="sandbox-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "ServerThread":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
