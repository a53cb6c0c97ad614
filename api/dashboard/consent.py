"""The OAuth authorization endpoint: the studio owner signs in, then allows or denies an app, in plain words.

The request is checked (by Authlib, see `api/oauth_server.py`) before anything is shown: an
unknown client or a redirect URI it did not register gets a page here, never a redirect; any
other problem goes back to the app with the error and `iss`. Not signed in: the sign-in page, then
back here. The page names the app as it calls itself, where the answer goes (an app on this
computer, or a web address), what it may read (each document kind a box the owner can untick: issue
17's read kinds), and asks separately whether it may send commands.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from flask import Response, g, redirect, render_template, request, url_for

from api import sessions
from api.dashboard.blueprint import bp, sylo as _sylo
from sylo import read_kinds
from sylo.oauth import scopes
from sylo.oauth.models import Owner
from sylo.oauth.uris import host_of, is_loopback

OAUTH_PARAMS = ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
                "code_challenge_method", "resource")


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> Response:
    """Show the consent page (GET) or carry out the owner's decision (POST)."""
    server, session = _sylo().oauth, sessions.current_session()
    if request.method == "POST" and session is not None:
        sessions.check_csrf(session.csrf_token)
    try:
        grant = server.get_consent_grant()
    except OAuth2Error as error:
        return _refused(error)
    if session is None:
        return redirect(url_for("dashboard.login", next=url_for("dashboard.authorize") + "?" + _query()))
    g.user_id = session.user_id
    if request.method == "GET":
        return _consent_page(grant)
    owner = _decision(session.user_id) if request.form.get("decision") == "allow" else None
    return server.create_authorization_response(grant=grant, grant_user=owner)


def _decision(user_id: str) -> Owner:
    """What the owner allowed: commands if ticked; the kinds ticked (every kind when the form showed none),
    and no reading at all when every kind was unticked."""
    kinds = read_kinds.PARTS
    if request.form.get("kinds_shown") == "yes":
        kinds = tuple(kind for kind in read_kinds.PARTS if kind in request.form.getlist("kinds"))
    allowed = ((scopes.READ,) if kinds else ()) + ((scopes.WRITE,) if request.form.get("commands") == "yes" else ())
    return Owner(user_id, allowed, kinds)


def _consent_page(grant) -> Response:
    client, redirect_uri = grant.client, grant.redirect_uri
    asked = scopes.parse(grant.request.scope)
    page = render_template(
        "dashboard/consent.html", client_name=client.name, client=client.record,
        metadata_host=host_of(client.record.client_id) if client.record.kind == "metadata_document" else None,
        redirect_uri=redirect_uri, redirect_host=host_of(redirect_uri), on_this_computer=is_loopback(redirect_uri),
        reads=scopes.SCOPES[scopes.READ] if scopes.READ in asked else None, kinds=read_kinds.WORDS,
        commands=scopes.SCOPES[scopes.WRITE] if scopes.WRITE in asked else None,
        params=[(name, request.args[name]) for name in OAUTH_PARAMS if name in request.args],
        account=_sylo().appdb.get_user(g.user_id))
    response = Response(page)
    # The form's answer is a redirect to the app: CSP's form-action must allow that origin too.
    target = urlsplit(redirect_uri)
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
        f"base-uri 'none'; form-action 'self' {target.scheme}://{target.netloc}")
    return response


def _refused(error: OAuth2Error) -> Response:
    """Back to the app with the error when its redirect URI was verified; otherwise a page for the person."""
    if error.redirect_uri:
        status, _, headers = error()
        location = add_params_to_uri(dict(headers)["Location"], [("iss", _sylo().oauth.issuer)])
        return redirect(location, code=status)
    description = error.description or error.error
    page = render_template("dashboard/consent_error.html", error=error.error, description=description)
    return Response(page, status=400)


def _query() -> str:
    """The authorization request's parameters, to come back to after signing in."""
    return urlencode([(name, request.values[name]) for name in OAUTH_PARAMS if name in request.values])
