"""Agent setup: connect AI apps in numbered steps, the apps the owner allowed, API tokens, the signing secret.

Creating a token or a signing secret is post-redirect-get: the POST stores the new secret,
encrypted under the keyring and bound to the user, in the signed session cookie and redirects;
the next GET shows it once (with the token written into each app's config) and drops it, so a
reload neither shows it again nor creates another.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from flask import Response, abort, flash, g, redirect, render_template, request, session, url_for

from api import sessions
from api.dashboard.blueprint import bp, sylo as _sylo
from sylo import mcp_configs, read_kinds
from sylo.export_layout import CLIENTS
from sylo.keyring import DecryptionFailed, Keyring, KeyringError
from sylo.oauth import scopes
from sylo.oauth.uris import host_of, is_loopback

CLIENT_NAMES = {"claude-code": "Claude Code", "claude-desktop": "Claude Desktop", "cursor": "Cursor",
                "vscode": "VS Code"}
REVEAL = "sylo_reveal"  # session key of a secret waiting to be shown once
GRACE_HOURS = 24


@bp.get("/agents")
@sessions.signed_in
def agents() -> Response:
    """The steps to connect each app, what is connected, and the credentials."""
    from api.context import public_url

    base = public_url()
    fresh = _take_reveal()
    new_token = fresh.get("token")
    appdb = _sylo().appdb
    secrets = appdb.signing_secret_infos(g.user_id)
    now = datetime.now(timezone.utc)
    return render_template(
        "dashboard/agents.html", mcp_url=mcp_configs.endpoint(base), public_https=base.startswith("https://"),
        configs=[_config(client, base, new_token) for client in CLIENTS], new_token=new_token,
        new_secret=fresh.get("secret"), tokens=[_token_row(t) for t in appdb.tokens(g.user_id)], secrets=secrets,
        now=now, kinds=read_kinds.WORDS,
        live_secret=any(not s.revoked_at and (not s.expires_at or s.expires_at > now) for s in secrets),
        grants=[_grant_row(grant) for grant in _sylo().oauth.store.grants(g.user_id)], grace_hours=GRACE_HOURS)


def _config(client: str, base: str, token: str | None) -> dict:
    shared = json.dumps(mcp_configs.config(client, base), indent=2)
    personal = json.dumps(mcp_configs.config(client, base, token=token), indent=2) if token else None
    return {"client": client, "name": CLIENT_NAMES[client], "shared": shared, "personal": personal,
            "personal_href": "data:application/json;charset=utf-8," + quote(personal + "\n") if personal else None}


def _grant_row(grant) -> dict:
    reads = "read your context" if grant.kinds == read_kinds.PARTS else f"read {read_kinds.describe(grant.kinds)}"
    may = ([reads] if scopes.READ in grant.scopes else []) + (["send commands"] if scopes.WRITE in grant.scopes else [])
    where = "an app on this computer" if is_loopback(grant.redirect_uri) else host_of(grant.redirect_uri)
    return {"id": grant.id, "name": grant.client_name or grant.client_id, "may": " and ".join(may) or "nothing",
            "where": where, "created_at": grant.created_at, "last_used_at": grant.last_used_at}


def _token_row(token) -> dict:
    return {"id": token.id, "label": token.label, "created_at": token.created_at, "revoked_at": token.revoked_at,
            "reads": read_kinds.describe(token.kinds)}


@bp.get("/agents/config/<client>.json")
@sessions.signed_in
def download_config(client: str) -> Response:
    """The shareable config (no secret in it) as a file."""
    from api.context import public_url

    if client not in CLIENTS:
        abort(404, description=f"No config for {client!r}.")
    body = json.dumps(mcp_configs.config(client, public_url()), indent=2) + "\n"
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{client}-mcp.json"'})


@bp.post("/agents/tokens")
@sessions.signed_in
def create_token() -> Response:
    """A new token reading the kinds ticked (every kind when the form named none)."""
    label = request.form.get("label", "").strip()[:200] or None
    kinds = None
    if request.form.get("kinds_shown") == "yes":
        kinds = tuple(kind for kind in read_kinds.PARTS if kind in request.form.getlist("kinds"))
        if not kinds:
            flash("Tick at least one kind of document the app may read.")
            return redirect(url_for("dashboard.agents") + "#step-1", code=303)
    _, token = _sylo().appdb.issue_token(g.user_id, label=label, kinds=kinds)
    _keep_reveal("token", token)
    return redirect(url_for("dashboard.agents") + "#step-2", code=303)


@bp.post("/agents/tokens/<token_id>/revoke")
@sessions.signed_in
def revoke_token(token_id: str) -> Response:
    revoked = _sylo().appdb.revoke_token(token_id, user_id=g.user_id)
    flash("Token revoked: agents using it are refused from now on." if revoked else "No such token.")
    return redirect(url_for("dashboard.agents"))


@bp.post("/agents/grants/<grant_id>/revoke")
@sessions.signed_in
def revoke_grant(grant_id: str) -> Response:
    """Take a signed-in app's access away: its tokens stop working on the next request."""
    revoked = _sylo().oauth.store.revoke_grant(grant_id[:40], by="owner", user_id=g.user_id)
    flash("Access removed: that app is refused from now on. It can ask again, and you decide again."
          if revoked else "That app no longer had access.")
    return redirect(url_for("dashboard.agents"))


@bp.post("/agents/secret/rotate")
@sessions.signed_in
def rotate_secret() -> Response:
    keyring = Keyring.from_settings(_sylo().settings)
    _, secret = _sylo().appdb.rotate_signing_secret(g.user_id, keyring, grace=timedelta(hours=GRACE_HOURS))
    _sylo().commands.secrets.keys(refresh=True)
    _keep_reveal("secret", secret)
    return redirect(url_for("dashboard.agents") + "#signing", code=303)


@bp.post("/agents/secret/<secret_id>/revoke")
@sessions.signed_in
def revoke_secret(secret_id: str) -> Response:
    revoked = _sylo().appdb.revoke_signing_secret(secret_id, user_id=g.user_id)
    _sylo().commands.secrets.keys(refresh=True)
    flash("Signing secret revoked." if revoked else "No such signing secret.")
    return redirect(url_for("dashboard.agents"))


def _keep_reveal(kind: str, secret: str) -> None:
    """Hold a new secret for the next page view only, sealed so the cookie shows nothing."""
    keyring = Keyring.from_settings(_sylo().settings)
    session[REVEAL] = {"kind": kind, "sealed": keyring.encrypt(secret.encode(), _aad(kind))}


def _take_reveal() -> dict:
    """The secret created just before this view ({kind: secret}), once; {} when there is none."""
    held = session.pop(REVEAL, None)
    if not isinstance(held, dict) or held.get("kind") not in ("token", "secret"):
        return {}
    try:
        secret = Keyring.from_settings(_sylo().settings).decrypt(held["sealed"], _aad(held["kind"]))
    except (KeyringError, DecryptionFailed, KeyError, TypeError):
        return {}
    return {held["kind"]: secret.decode()}


def _aad(kind: str) -> bytes:
    return f"dashboard-reveal:{kind}:{g.user_id}".encode()
