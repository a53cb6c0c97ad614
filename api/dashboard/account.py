"""Signing in: email and password, one-time links, signing out, the password page."""

from __future__ import annotations

from flask import Response, flash, g, redirect, render_template, request, url_for

from api import sessions
from api.auth import client_address
from api.dashboard.blueprint import bp, sylo
from sylo.accounts import TooManyAttempts


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    """Email and password."""
    token = sessions.login_csrf_token()
    error, status, headers = None, 200, {}
    if request.method == "POST":
        sessions.check_login_csrf()
        try:
            user_id = sessions.accounts().authenticate(request.form.get("email", ""), request.form.get("password", ""),
                                                       address=client_address())
        except TooManyAttempts as throttled:
            error, status, headers = _throttled(throttled), 429, {"Retry-After": str(throttled.retry_after)}
        else:
            if user_id is not None:
                wanted = request.form.get("next")
                return _start_session(user_id, sessions.safe_next(wanted) if wanted else url_for("dashboard.home"))
            error, status = "That email and password do not match an account.", 401
    page = render_template("dashboard/login.html", login_csrf=token, error=error, next=request.args.get("next", ""))
    return sessions.set_login_csrf_cookie(Response(page, status=status, headers=headers), token)


def _throttled(throttled: TooManyAttempts) -> str:
    minutes = max(1, round(throttled.retry_after / 60))
    return (f"Too many failed sign-ins for this account or from this network. Try again in about {minutes} "
            f"minute{'s' if minutes != 1 else ''}, or ask for a sign-in link.")


@bp.route("/login/<token>", methods=["GET", "POST"])
def login_link(token: str) -> Response:
    """A one-time link: GET shows a button (link scanners must not spend it), POST signs in."""
    csrf = sessions.login_csrf_token()
    if request.method == "POST":
        sessions.check_login_csrf()
        user_id = sessions.accounts().use_login_link(token)
        if user_id is not None:
            target = url_for("dashboard.password") if not sessions.accounts().has_password(user_id) else None
            return _start_session(user_id, target or url_for("dashboard.home"))
    valid = sessions.accounts().link_is_valid(token)
    page = render_template("dashboard/login_link.html", valid=valid, login_csrf=csrf, token=token)
    return sessions.set_login_csrf_cookie(Response(page, status=200 if valid else 410), csrf)


@bp.post("/logout")
@sessions.signed_in
def logout() -> Response:
    sessions.accounts().end_session(request.cookies.get(sessions.SESSION_COOKIE, ""))
    return sessions.clear_session_cookie(redirect(url_for("dashboard.login")))


@bp.route("/account/password", methods=["GET", "POST"])
@sessions.signed_in
def password() -> Response:
    """Set or change the password used to sign in."""
    error, status, headers = None, 200, {}
    had_one = sessions.accounts().has_password(g.user_id)
    if request.method == "POST":
        new, again = request.form.get("password", ""), request.form.get("confirm", "")
        try:
            if new != again:
                raise ValueError("the two passwords differ")
            sessions.accounts().change_password(g.user_id, request.form.get("current"), new,
                                                keep_session=request.cookies.get(sessions.SESSION_COOKIE),
                                                address=client_address())
        except TooManyAttempts as throttled:
            error, status, headers = _throttled(throttled), 429, {"Retry-After": str(throttled.retry_after)}
        except ValueError as problem:  # WrongPassword included
            error, status = f"Password not saved: {problem}.", 400
        else:
            flash("Password saved, and every other session signed out. Use it with your email next time you sign in."
                  if had_one else "Password saved. Use it with your email next time you sign in.")
            return redirect(url_for("dashboard.home"))
    user = sylo().appdb.get_user(g.user_id)
    page = render_template("dashboard/password.html", error=error, email=user.email if user else None,
                           studio=user.display_name if user else None,
                           has_password=had_one)
    return Response(page, status=status, headers=headers)


def _start_session(user_id: str, target: str) -> Response:
    token, session = sessions.accounts().start_session(user_id)
    return sessions.set_session_cookie(redirect(target, code=303), token, session.expires_at)
