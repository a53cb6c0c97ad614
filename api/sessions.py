"""Browser sessions for the dashboard: a cookie naming a server-side session, CSRF on every form.

The cookie is HttpOnly and SameSite=Lax, and Secure whenever the dashboard is served over HTTPS
(directly, or per SYLO_PUBLIC_URL behind a TLS proxy). Every POST must carry the session's CSRF
token; the sign-in form, before any session exists, uses a double-submit cookie instead.
"""

from __future__ import annotations

import functools
import hmac
import re
import secrets
from urllib.parse import urlsplit

from flask import Response, abort, current_app, g, redirect, request, url_for
from flask.sessions import SecureCookieSessionInterface
from flask.sessions import SecureCookieSessionInterface

SESSION_COOKIE = "sylo_session"
# Routes for agents and machines: they never flash a message, so they never open Flask's cookie.
MACHINE_PREFIXES = ("/v1/", "/mcp", "/webhooks/", "/healthz", "/metrics", "/openapi.json", "/.well-known/")
LOGIN_CSRF_COOKIE = "sylo_login_csrf"
_UNSAFE_IN_PATH = re.compile(r"[\x00-\x20\x7f\\]")


def accounts():
    return current_app.extensions["sylo"].accounts


def secure() -> bool:
    return request.is_secure or current_app.extensions["sylo"].settings.public_url.startswith("https://")


def current_session():
    if "web_session" not in g:
        g.web_session = accounts().session(request.cookies.get(SESSION_COOKIE))
    return g.web_session


def signed_in(view):
    """Pages that need a session: without one (or after it expired), go to sign-in and come back."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        session = current_session()
        if session is None:
            return redirect(url_for("dashboard.login", next=_local_path(request.full_path)))
        g.user_id = session.user_id
        if request.method == "POST":
            check_csrf(session.csrf_token)
        return view(*args, **kwargs)

    return wrapper


def check_csrf(expected: str) -> None:
    sent = request.form.get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent, expected):
        abort(403, description="This form has expired or did not come from this site. Reload the page and try again.")


def set_session_cookie(response: Response, token: str, expires) -> Response:
    response.set_cookie(SESSION_COOKIE, token, expires=expires, httponly=True, samesite="Lax", secure=secure(),
                        path="/")
    return response


def clear_session_cookie(response: Response) -> Response:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax", secure=secure())
    return response


def login_csrf_token() -> str:
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)


def set_login_csrf_cookie(response: Response, token: str) -> Response:
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", secure=secure(), path="/")
    return response


def check_login_csrf() -> None:
    check_csrf(request.cookies.get(LOGIN_CSRF_COOKIE, "") or secrets.token_urlsafe(8))


def safe_next(target: str | None) -> str:
    """Only local paths: a sign-in link must not bounce anyone to another site."""
    path = _local_path(target or "")
    return path if path and path != "/login" else url_for("dashboard.connections")


def _local_path(target: str) -> str:
    """`target` when it is a path on this site, else "".

    Browsers strip tabs and newlines from URLs and read a backslash as a slash, so "/\t/evil" and
    "/\\evil" lead off-site just as "//evil" does; and a CR or LF cannot go into a Location header.
    Paths Sylo builds are percent-encoded, so refusing every control character, space and
    backslash costs nothing."""
    if not target.startswith("/") or target.startswith("//") or _UNSAFE_IN_PATH.search(target):
        return ""  # one leading slash: no scheme, no host (and no urlsplit, which raises on "//[")
    return target.rstrip("?")


def security_headers(response: Response) -> Response:
    """Dashboard pages: no framing, no inline script, forms post here or to Nango's Connect page."""
    nango = urlsplit(current_app.extensions["sylo"].settings.nango_url)
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                f"frame-ancestors 'none'; base-uri 'none'; form-action 'self' {nango.scheme}://{nango.netloc}")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


class FlashSessions(SecureCookieSessionInterface):
    """Flask's signed cookie, for the dashboard's flash messages only.

    Opening it costs a signing serializer and a cookie parse on every request; agents' reads are
    the hot path and never use it, so their requests get Flask's null session instead.
    """

    def open_session(self, app, request):
        if request.path.startswith(MACHINE_PREFIXES):
            return self.null_session_class()
        return super().open_session(app, request)

    def get_signing_serializer(self, app):
        cached = app.extensions.get("sylo_flash_serializer")
        if cached is None:
            cached = app.extensions["sylo_flash_serializer"] = super().get_signing_serializer(app)
        return cached
