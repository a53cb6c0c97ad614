"""Connections: one card per service, connect, reconnect, disconnect and delete the synced data.

Cards speak the owner's language: a provider's or Nango's own message (`invalid_grant: Token has
been expired or revoked.`) is kept for a "Technical details" fold, never the headline. Disconnect
and deleting the data each ask first, on a page of their own (no script needed); their POSTs
answer with a redirect, so reloading the page that follows repeats nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Response, abort, flash, g, jsonify, redirect, render_template, request, url_for

from api import sessions
from api.dashboard.blueprint import bp, sylo as _sylo
from api.dashboard.context_page import read_json
from sylo.clock import as_utc
from sylo.nango.client import NangoClient, NangoError
from sylo.services import SERVICES, Service, UnknownService, service as find_service

log = logging.getLogger(__name__)

# What each service tells the agents about, for the "Connect ... so your agents know ..." line.
FEEDS = {"gmail": "your mail", "asana": "your projects and tasks", "xero": "your invoices and bills"}


@bp.get("/connections")
@sessions.signed_in
def connections() -> Response:
    """One card per service: its state in plain words, last successful sync, what to do."""
    return render_template("dashboard/connections.html", cards=connection_cards(g.user_id))


@bp.get("/connections/states")
@sessions.signed_in
def connection_states() -> Response:
    """Each card's state, for the page to notice a connection settling or data going without reloading itself."""
    return jsonify({card["service"]: card["watch"] for card in connection_cards(g.user_id)})


def connection_cards(user_id: str) -> list[dict]:
    """The cards of the Connections page, also read by the home page."""
    records = {}
    for record in _sylo().appdb.connections(user_id):
        if record.integration not in records or record.updated_at > records[record.integration].updated_at:
            records[record.integration] = record
    document = read_json(user_id, "all")
    freshness = {item["service"]: item for item in document.get("freshness", [])}
    as_of = _parse(document.get("as_of"))
    return [_card(s, records.get(s.integration), freshness.get(s.name), document.get("stale_after_hours"), as_of)
            for s in SERVICES]


def _card(service: Service, record, fresh: dict | None, stale_hours, as_of: datetime | None = None) -> dict:
    fresh = fresh or {}
    card = {"service": service.name, "name": service.display_name, "last_success_at": fresh.get("last_success_at"),
            "purge_pending": bool(record and record.purge_requested_at), "technical": None, "settling": False}
    if record is None or record.status == "disconnected":
        # What Sylo still holds is known only from a document built after the disconnection.
        card["settling"] = record is not None and (as_of is None or as_of < as_utc(record.updated_at))
        state = _unplugged(service, record, card)
    elif record.status == "needs_reauth":
        state = ("needs-reauth", "Sign in again", f"{service.display_name} needs you to sign in again. It stopped "
                 "accepting Sylo's access, so your agents' picture of it is getting older.")
        card["technical"] = record.last_error
    elif fresh.get("state") == "failing":
        state = ("error", "Sync failed", f"Sylo could not read {service.display_name} at its last try. It tries "
                 f"again at the next sync; if this stays, reconnect {service.display_name}.")
        card["technical"] = fresh.get("error")
    elif not card["last_success_at"]:
        state = ("syncing", "Syncing", "Connected. The first sync is under way; this page updates when it is done.")
    elif fresh.get("state") == "paused":
        state = ("paused", "Paused", f"{service.display_name}'s daily limit for apps was reached. Sylo carries on "
                 "when it resets" + (f" ({_time(fresh['paused_until'])})." if fresh.get("paused_until") else "."))
    elif fresh.get("stale"):
        state = ("stale", "Behind", f"No successful sync for more than {stale_hours or 6:g} hours. "
                 "Sylo keeps trying; what your agents know may be out of date.")
    else:
        state = ("connected", "Connected", "Up to date.")
    card["state"], card["label"], card["explanation"] = state
    card["has_data"] = bool(card["last_success_at"]) and not card["purge_pending"] and not card["settling"]
    # What the page waits to see change: a first sync, data being deleted, a document catching up.
    card["watch"] = card["state"] + (":deleting" if card["purge_pending"] else ":settling" if card["settling"] else "")
    return card


def _unplugged(service: Service, record, card: dict) -> tuple[str, str, str]:
    if record is None:
        return ("not-connected", "Not connected",
                f"Connect {service.display_name} so your agents know about {FEEDS.get(service.name, 'it')}.")
    if card["purge_pending"]:
        kept = "Sylo is deleting the data it synced from it."
    elif card["settling"]:
        kept = "Sylo no longer reads it."
    elif card["last_success_at"]:
        kept = "Sylo no longer reads it, and keeps the data it already synced until you delete it."
    else:
        kept = "Sylo no longer reads it and keeps nothing from it."
    return ("disconnected", "Disconnected", kept)


def _parse(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")) if iso else None


def _time(iso: str) -> str:
    return iso[:16].replace("T", " ") + " UTC"


@bp.post("/connections/<service>/connect")
@sessions.signed_in
def connect(service: str) -> Response:
    """A Nango connect session tagged with this user, then Nango's Connect page."""
    known = _service(service)
    return _to_connect_page(known, lambda nango: nango.create_connect_session({"end_user_id": g.user_id},
                                                                               [known.integration]))


@bp.post("/connections/<service>/reconnect")
@sessions.signed_in
def reconnect(service: str) -> Response:
    """Nango's reconnect session for the existing connection (a new one if there is none)."""
    known = _service(service)
    record = _current(known.integration)
    if record is None:
        return connect(service)
    return _to_connect_page(known, lambda nango: nango.create_reconnect_session(
        record.connection_id, known.integration, {"end_user_id": g.user_id}))


def _to_connect_page(known: Service, start_session) -> Response:
    try:
        session = start_session(_nango())
    except NangoError as error:
        log.warning("could not start a Nango connect session for %s (%s): %s", g.user_id, known.name, error)
        flash(f"{known.display_name}'s sign-in page could not be opened just now. Try again in a minute; if it "
              "keeps happening, tell whoever set up Sylo for your studio that connecting is failing.", "error")
        return redirect(url_for("dashboard.connections"))
    return redirect(session["connect_link"], code=303)


@bp.get("/connections/<service>/disconnect")
@sessions.signed_in
def confirm_disconnect(service: str) -> Response:
    """Ask before disconnecting: what stops, and whether to delete what was synced."""
    known = _service(service)
    if _current(known.integration) is None:
        flash(f"{known.display_name} is not connected.")
        return redirect(url_for("dashboard.connections"))
    return render_template("dashboard/confirm.html", action="disconnect", service=known,
                           feeds=FEEDS.get(known.name, "it"))


@bp.post("/connections/<service>/disconnect")
@sessions.signed_in
def disconnect(service: str) -> Response:
    """Delete the Nango connection, mark it, and queue the synced data for deletion if asked."""
    known = _service(service)
    record = _current(known.integration)
    if record is None:
        flash(f"{known.display_name} is not connected.")
        return redirect(url_for("dashboard.connections"))
    try:
        _nango().delete_connection(record.connection_id, known.integration)
    except NangoError as error:
        if getattr(error, "status", None) != 404:
            log.warning("could not delete %s's %s connection in Nango: %s", g.user_id, known.name, error)
            flash(f"{known.display_name} could not be disconnected just now, so it is still connected. Try again in "
                  "a minute.", "error")
            return redirect(url_for("dashboard.connections"))
    appdb = _sylo().appdb
    appdb.record_connection(user_id=g.user_id, integration=known.integration, connection_id=record.connection_id,
                            status="disconnected", kind="disconnected", source="dashboard")
    if request.form.get("delete_data") == "yes":
        appdb.request_purge(g.user_id, known.integration)
        flash(f"{known.display_name} disconnected. The data Sylo synced from it will be deleted within minutes.")
    else:
        flash(f"{known.display_name} disconnected. The data already synced stays until you delete it.")
    return redirect(url_for("dashboard.connections"))


@bp.get("/connections/<service>/delete-data")
@sessions.signed_in
def confirm_delete_data(service: str) -> Response:
    """Ask before deleting what Sylo synced from a disconnected service."""
    known = _service(service)
    return render_template("dashboard/confirm.html", action="delete", service=known, feeds=FEEDS.get(known.name, "it"))


@bp.post("/connections/<service>/delete-data")
@sessions.signed_in
def delete_data(service: str) -> Response:
    known = _service(service)
    if _sylo().appdb.request_purge(g.user_id, known.integration):
        flash(f"The data Sylo synced from {known.display_name} will be deleted within minutes.")
    else:
        flash(f"Sylo holds no data from {known.display_name}.")
    return redirect(url_for("dashboard.connections"))


def _service(name: str) -> Service:
    try:
        return find_service(name)
    except UnknownService:
        abort(404, description=f"Sylo does not connect to a service called {name!r}.")


def _current(integration: str):
    live = [r for r in _sylo().appdb.connections(g.user_id) if r.integration == integration and r.status != "disconnected"]
    return max(live, key=lambda r: r.updated_at) if live else None


def _nango() -> NangoClient:
    settings = _sylo().settings
    if settings.nango_secret_key is None:
        raise NangoError("Sylo has no Nango secret key (SYLO_NANGO_SECRET_KEY)")
    return NangoClient.shared(settings.nango_url, settings.nango_secret_key.get_secret_value(), timeout=15)
