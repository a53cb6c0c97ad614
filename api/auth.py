"""Bearer-token authentication: `Authorization: Bearer <token>` names exactly one user.

Two kinds of token. A static API token (`sylo_...`, from `sylo users token` or Agent setup) works
on every route with every scope. An OAuth access token (`syloat_...`, from `/oauth/token`) works
on `/mcp` only, for the scopes its grant holds, and only while its resource (RFC 8707) is this
server's `/mcp`: a token minted for another resource, or anywhere but `/mcp`, is refused.

Each token, and each grant, also names the document kinds it may read (`sylo.read_kinds`; every
kind unless the owner limited it): `Caller.may_read` is asked on every route that returns a document.

Tokens are looked up by their SHA-256 in the app DB, so the lookup is an indexed equality on a
hash, never a comparison of secrets. Tokens in query strings are refused by design: they end up in
proxy logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g, request

from api.problems import Problem
from sylo import read_kinds
from sylo.oauth import scopes

REALM = 'Bearer realm="sylo"'


@dataclass(frozen=True)
class Caller:
    """Who is calling and what they may do: scopes, and the document kinds the token or grant may read."""
    user_id: str
    scopes: tuple[str, ...]
    via: str  # token | oauth
    grant_id: str | None = None
    kinds: tuple[str, ...] = read_kinds.PARTS

    def may(self, scope: str) -> bool:
        return scope in self.scopes

    def may_read(self, kind: str) -> bool:
        """Whether this caller may read documents of `kind` (`all` only with every kind)."""
        return read_kinds.may_read(self.kinds, kind)

    @property
    def readable(self) -> tuple[str, ...]:
        """Every kind this caller may read, `all` included when it may read each part."""
        return read_kinds.readable(self.kinds)

    def cannot_read(self, kind: str) -> str:
        """Why a document of `kind` is refused, in a sentence an agent can act on."""
        limited = f"it may read {read_kinds.describe(self.kinds)} only"
        if kind == read_kinds.BRIEFING:
            return (f"This token may not read the all briefing: {limited}, and all is made of every kind. "
                    f"Read those documents one by one instead.")
        return f"This token may not read {kind} documents: {limited}. The studio owner chose this on Agent setup."


def static_caller(appdb, token: str) -> Caller | None:
    """The caller a static API token names, or None when it is unknown or revoked (cached; see AppDB)."""
    owner = appdb.token_owner(token)
    return Caller(owner.user_id, scopes.ALL, "token", kinds=owner.kinds) if owner else None


def client_address() -> str:
    """Who is on the other end, for per-address limits: the direct peer, or what trusted proxies say.

    `SYLO_TRUSTED_PROXY_HOPS` wraps the app in werkzeug's ProxyFix (see `create_app`), which
    takes the address that many hops back in X-Forwarded-For; with 0 the header is ignored, so a
    client cannot pick the address it is counted under."""
    return request.remote_addr or "unknown"


def bearer_token() -> str | None:
    return parse_bearer(request.headers.get("Authorization", ""))


def parse_bearer(header: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate() -> Caller:
    """Return the caller of a static API token, or raise a 401 problem that says what was wrong."""
    token = bearer_token()
    if token is None:
        raise Problem(401, "unauthorized", "Unauthorized",
                      "Send your API token as 'Authorization: Bearer <token>' (create one on the dashboard's Agent "
                      "setup page or with `sylo users token`).", headers={"WWW-Authenticate": REALM})
    caller = static_caller(current_app.extensions["sylo"].appdb, token)
    if caller is None:
        detail = "This API token is unknown or has been revoked."
        if token.startswith("syloat_"):
            detail = "This is an OAuth access token for /mcp; it works nowhere else. Use an API token here."
        raise Problem(401, "invalid-token", "Unauthorized", detail,
                      headers={"WWW-Authenticate": REALM + ', error="invalid_token"'})
    g.user_id = caller.user_id
    return caller


def authenticate_mcp(resource_metadata: str, resource: str) -> Caller:
    """The caller of `/mcp`: a static API token or an OAuth access token for `resource`.

    A 401 names the protected-resource metadata (RFC 9728 §5.1), so an OAuth client can discover
    where to sign in, and the scopes to ask for."""
    token = bearer_token()
    challenge = f'{REALM}, resource_metadata="{resource_metadata}", scope="{" ".join(scopes.ALL)}"'
    if token is None:
        raise Problem(401, "unauthorized", "Unauthorized",
                      "Sign in (OAuth) or send your API token as 'Authorization: Bearer <token>'.",
                      headers={"WWW-Authenticate": challenge})
    sylo = current_app.extensions["sylo"]
    caller = static_caller(sylo.appdb, token)
    if caller is None:
        record = sylo.oauth.store.access(token, resource)
        if record is None:
            raise Problem(401, "invalid-token", "Unauthorized",
                          "This token is unknown, expired or revoked, or was issued for another server; sign in "
                          "again or use a current API token.",
                          headers={"WWW-Authenticate": challenge + ', error="invalid_token"'})
        caller = Caller(record.grant.user_id, scopes.parse(record.scope), "oauth", record.grant.id,
                        record.grant.kinds)
    g.user_id = caller.user_id
    return caller


def insufficient_scope(needed: str, resource_metadata: str, caller: Caller) -> Problem:
    """RFC 6750 §3.1 / MCP step-up: 403 naming the scopes that would do, kept with the ones already held."""
    wanted = scopes.join({*caller.scopes, needed})
    return Problem(403, "insufficient-scope", "Forbidden",
                   f"This needs the {needed} permission, which the studio owner did not grant to this app.",
                   headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{wanted}", '
                                                f'resource_metadata="{resource_metadata}"'})
