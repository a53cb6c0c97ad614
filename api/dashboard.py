"""The studio owner's dashboard: sign in, connections, agent setup, context, activity.

Server-rendered pages (`templates/dashboard/`), a little JavaScript for copy buttons, every
asset served from here. Each page reads only the signed-in user's rows and files.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from markdown_it import MarkdownIt
from werkzeug.exceptions import HTTPException

from api import sessions
from api.auth import client_address
from api.document_store import KINDS, TITLES
from sylo import mcp_configs
from sylo.accounts import TooManyAttempts
from sylo.commands import health as delivery_health
from sylo.nango.client import NangoClient, NangoError
from sylo.export_layout import CLIENTS
from sylo.keyring import Keyring
from sylo.services import SERVICES, UnknownService, service as find_service

bp = Blueprint("dashboard", __name__)
CLIENT_NAMES = {"claude-code": "Claude Code", "claude-desktop": "Claude Desktop", "cursor": "Cursor",
                "vscode": "VS Code"}
MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
PAGE_SIZE = 25


def _sylo():
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


# -- signing in ----------------------------------------------------------------------------------


@bp.get("/")
def home() -> Response:
    return redirect(url_for("dashboard.connections" if sessions.current_session() else "dashboard.login"))


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
                return _start_session(user_id, sessions.safe_next(request.form.get("next")))
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
            return _start_session(user_id, target or url_for("dashboard.connections"))
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
            flash("Password saved, and every other session signed out. Use it with your email next time you sign in.")
            return redirect(url_for("dashboard.connections"))
    page = render_template("dashboard/password.html", error=error,
                           has_password=sessions.accounts().has_password(g.user_id))
    return Response(page, status=status, headers=headers)


def _start_session(user_id: str, target: str) -> Response:
    token, session = sessions.accounts().start_session(user_id)
    return sessions.set_session_cookie(redirect(target, code=303), token, session.expires_at)


# -- connections ---------------------------------------------------------------------------------


@bp.get("/connections")
@sessions.signed_in
def connections() -> Response:
    """One card per service: its state in plain words, last successful sync, what to do."""
    return render_template("dashboard/connections.html", cards=connection_cards(g.user_id))


def connection_cards(user_id: str) -> list[dict]:
    records = {}
    for record in _sylo().appdb.connections(user_id):
        if record.integration not in records or record.updated_at > records[record.integration].updated_at:
            records[record.integration] = record
    document = _sylo().documents.read(user_id, "all", "json")
    header = json.loads(document.body) if document else {}
    freshness = {item["service"]: item for item in header.get("freshness", [])}
    return [_card(s.name, s.integration, s.display_name, records.get(s.integration), freshness.get(s.name),
                  header.get("stale_after_hours"))
            for s in SERVICES]


def _card(service: str, integration: str, name: str, record, fresh: dict | None, stale_hours) -> dict:
    card = {"service": service, "name": name, "last_success_at": (fresh or {}).get("last_success_at"),
            "purge_pending": bool(record and record.purge_requested_at), "connection_id": None}
    if record is None or record.status == "disconnected":
        state = ("disconnected", "Disconnected", "Sylo no longer reads this account.") if record else \
                ("not-connected", "Not connected", f"Connect {name} so your agents know about it.")
    elif record.status == "needs_reauth":
        state = ("needs-reauth", "Needs re-authorisation",
                 f"{name} stopped accepting Sylo's access: {record.last_error or 'the authorisation expired'}. "
                 "Reconnect to fix it.")
    elif fresh and fresh.get("state") == "failing":
        state = ("error", "Error", f"The last sync failed: {fresh.get('error') or 'no reason given'}.")
    elif not card["last_success_at"]:
        state = ("syncing", "Syncing", "Connected; the first sync is under way.")
    elif fresh and fresh.get("stale"):
        state = ("stale", "Behind", f"No successful sync for more than {stale_hours or 6:g} hours."
                 + (f" {fresh['note'].capitalize()}." if fresh.get("note") else ""))
    else:
        state = ("connected", "Connected", "Up to date.")
    card["state"], card["label"], card["explanation"] = state
    if record is not None and record.status != "disconnected":
        card["connection_id"] = record.connection_id
    return card


@bp.post("/connections/<service>/connect")
@sessions.signed_in
def connect(service: str) -> Response:
    """A Nango connect session tagged with this user, then Nango's Connect page."""
    integration = _integration(service)
    return _to_connect_page("connecting", lambda nango: nango.create_connect_session({"end_user_id": g.user_id},
                                                                                      [integration]))


@bp.post("/connections/<service>/reconnect")
@sessions.signed_in
def reconnect(service: str) -> Response:
    """Nango's reconnect session for the existing connection (a new one if there is none)."""
    integration = _integration(service)
    record = _current(integration)
    if record is None:
        return connect(service)
    return _to_connect_page("reconnecting", lambda nango: nango.create_reconnect_session(
        record.connection_id, integration, {"end_user_id": g.user_id}))


def _to_connect_page(doing: str, start_session) -> Response:
    try:
        session = start_session(_nango())
    except NangoError as error:
        flash(f"Could not start {doing}: Nango said {error}.", "error")
        return redirect(url_for("dashboard.connections"))
    return redirect(session["connect_link"], code=303)


@bp.post("/connections/<service>/disconnect")
@sessions.signed_in
def disconnect(service: str) -> Response:
    """Delete the Nango connection, mark it, and queue the synced data for deletion if asked."""
    integration = _integration(service)
    record = _current(integration)
    name = find_service(service).display_name
    if record is None:
        flash(f"{name} is not connected.")
        return redirect(url_for("dashboard.connections"))
    try:
        _nango().delete_connection(record.connection_id, integration)
    except NangoError as error:
        if getattr(error, "status", None) != 404:
            flash(f"Could not disconnect: Nango said {error}.", "error")
            return redirect(url_for("dashboard.connections"))
    appdb = _sylo().appdb
    appdb.record_connection(user_id=g.user_id, integration=integration, connection_id=record.connection_id,
                            status="disconnected", kind="disconnected", source="dashboard")
    if request.form.get("delete_data") == "yes":
        appdb.request_purge(g.user_id, integration)
        flash(f"{name} disconnected. The data Sylo synced from it will be deleted on the next pipeline run.")
    else:
        flash(f"{name} disconnected. The data already synced stays until you delete it.")
    return redirect(url_for("dashboard.connections"))


@bp.post("/connections/<service>/delete-data")
@sessions.signed_in
def delete_data(service: str) -> Response:
    integration = _integration(service)
    _sylo().appdb.request_purge(g.user_id, integration)
    flash("The synced data will be deleted on the next pipeline run.")
    return redirect(url_for("dashboard.connections"))


def _integration(service: str) -> str:
    try:
        return find_service(service).integration
    except UnknownService:
        abort(404, description=f"There is no service called {service!r}.")


def _current(integration: str):
    live = [r for r in _sylo().appdb.connections(g.user_id) if r.integration == integration and r.status != "disconnected"]
    return max(live, key=lambda r: r.updated_at) if live else None


def _nango() -> NangoClient:
    settings = _sylo().settings
    if settings.nango_secret_key is None:
        raise NangoError("Sylo has no Nango secret key (SYLO_NANGO_SECRET_KEY)")
    return NangoClient.shared(settings.nango_url, settings.nango_secret_key.get_secret_value(), timeout=15)


# -- agent setup ---------------------------------------------------------------------------------


@bp.get("/agents")
@sessions.signed_in
def agents(new_token: str | None = None, new_secret: str | None = None) -> Response:
    """MCP configs for each client, API tokens and the command-signing secret."""
    from api.context import public_url

    base = public_url()
    configs = [{"client": c, "name": CLIENT_NAMES[c], "text": json.dumps(mcp_configs.config(c, base), indent=2)}
               for c in CLIENTS]
    appdb = _sylo().appdb
    return render_template("dashboard/agents.html", configs=configs, mcp_url=mcp_configs.endpoint(base),
                           tokens=appdb.tokens(g.user_id), secrets=appdb.signing_secret_infos(g.user_id),
                           new_token=new_token, new_secret=new_secret, now=datetime.now(timezone.utc))


@bp.get("/agents/config/<client>.json")
@sessions.signed_in
def download_config(client: str) -> Response:
    from api.context import public_url

    if client not in CLIENTS:
        abort(404, description=f"No config for {client!r}.")
    body = json.dumps(mcp_configs.config(client, public_url()), indent=2) + "\n"
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{client}-mcp.json"'})


@bp.post("/agents/tokens")
@sessions.signed_in
def create_token() -> Response:
    label = request.form.get("label", "").strip()[:200] or None
    _, token = _sylo().appdb.issue_token(g.user_id, label=label)
    return agents(new_token=token)


@bp.post("/agents/tokens/<token_id>/revoke")
@sessions.signed_in
def revoke_token(token_id: str) -> Response:
    revoked = _sylo().appdb.revoke_token(token_id, user_id=g.user_id)
    flash("Token revoked: agents using it are refused from now on." if revoked else "No such token.")
    return redirect(url_for("dashboard.agents"))


@bp.post("/agents/secret/rotate")
@sessions.signed_in
def rotate_secret() -> Response:
    hours = 24
    keyring = Keyring.from_settings(_sylo().settings)
    _, secret = _sylo().appdb.rotate_signing_secret(g.user_id, keyring, grace=timedelta(hours=hours))
    _sylo().commands.secrets.keys(refresh=True)
    return agents(new_secret=secret)


@bp.post("/agents/secret/<secret_id>/revoke")
@sessions.signed_in
def revoke_secret(secret_id: str) -> Response:
    revoked = _sylo().appdb.revoke_signing_secret(secret_id, user_id=g.user_id)
    _sylo().commands.secrets.keys(refresh=True)
    flash("Signing secret revoked." if revoked else "No such signing secret.")
    return redirect(url_for("dashboard.agents"))


# -- context and activity ------------------------------------------------------------------------


@bp.get("/context")
@sessions.signed_in
def context() -> Response:
    """The current documents, rendered, with their freshness."""
    kind = request.args.get("kind", "all")
    kind = kind if kind in KINDS else "all"
    store = _sylo().documents
    markdown = store.read(g.user_id, kind, "md")
    header = store.read(g.user_id, kind, "json")
    meta = json.loads(header.body) if header else {}
    return render_template("dashboard/context.html", kinds=[(k, TITLES[k]) for k in KINDS], kind=kind,
                           html=MARKDOWN.render(markdown.body.decode()) if markdown else None,
                           as_of=meta.get("as_of"), freshness=meta.get("freshness", []))


@bp.get("/activity")
@sessions.signed_in
def activity() -> Response:
    """What agents did and tried, newest first."""
    before = request.args.get("before", type=int)
    entries = _sylo().commands.outbox.audit_entries(g.user_id, before_id=before, limit=PAGE_SIZE + 1)
    more = len(entries) > PAGE_SIZE
    entries = entries[:PAGE_SIZE]
    return render_template("dashboard/activity.html", entries=entries, n8n_problem=_n8n_problem(),
                           older=url_for("dashboard.activity", before=entries[-1].id) if more else None)


def _n8n_problem() -> str | None:
    """What is wrong with n8n, in plain words, while deliveries keep failing the same way."""
    current = delivery_health.current(_sylo().appdb.engine)
    return current.sentence(_sylo().settings) if current is not None and current.failing else None
