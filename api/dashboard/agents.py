"""Agent setup: MCP client configs, API tokens and the command-signing secret."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from flask import Response, abort, flash, g, redirect, render_template, request, url_for

from api import sessions
from api.dashboard.blueprint import bp, sylo as _sylo
from sylo import mcp_configs
from sylo.export_layout import CLIENTS
from sylo.keyring import Keyring

CLIENT_NAMES = {"claude-code": "Claude Code", "claude-desktop": "Claude Desktop", "cursor": "Cursor",
                "vscode": "VS Code"}


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
