"""Bearer-token authentication: `Authorization: Bearer <api token>` names exactly one user.

Tokens are looked up by their SHA-256 in the app DB (`AppDB.user_for_token`), so the lookup is
an indexed equality on a hash, never a comparison of secrets. Tokens in query strings are refused
by design: they end up in proxy logs.
"""

from __future__ import annotations

from flask import current_app, g, request

from api.problems import Problem

REALM = 'Bearer realm="sylo"'


def client_address() -> str:
    """Who is on the other end, for per-address limits: the direct peer, or what trusted proxies say.

    `SYLO_TRUSTED_PROXY_HOPS` wraps the app in werkzeug's ProxyFix (see `create_app`), which
    takes the address that many hops back in X-Forwarded-For; with 0 the header is ignored, so a
    client cannot pick the address it is counted under."""
    return request.remote_addr or "unknown"


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate() -> str:
    """Return the caller's user id, or raise a 401 problem that says what was wrong."""
    token = bearer_token()
    if token is None:
        raise Problem(401, "unauthorized", "Unauthorized",
                      "Send your API token as 'Authorization: Bearer <token>' (create one with `sylo users token`).",
                      headers={"WWW-Authenticate": REALM})
    user_id = current_app.extensions["sylo"].appdb.user_for_token(token)
    if user_id is None:
        raise Problem(401, "invalid-token", "Unauthorized", "This API token is unknown or has been revoked.",
                      headers={"WWW-Authenticate": REALM + ', error="invalid_token"'})
    g.user_id = user_id
    return user_id
