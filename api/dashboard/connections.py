"""Connections: one card per service, connect, reconnect, disconnect and delete the synced data."""

from __future__ import annotations

import json

from flask import Response, abort, flash, g, redirect, render_template, request, url_for

from api import sessions
from api.dashboard.blueprint import bp, sylo as _sylo
from sylo.nango.client import NangoClient, NangoError
from sylo.services import SERVICES, UnknownService, service as find_service


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
