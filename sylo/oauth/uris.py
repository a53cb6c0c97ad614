"""The URI rules: which redirect URIs a client may register and use, and the resource a token is for.

Redirect URIs (MCP authorization, "Open Redirection"; RFC 8252 §7.3 and §8.3): https with a host,
or plain http to a loopback host for apps on the owner's computer, no fragment, no userinfo.
A requested URI must equal a registered one exactly, except that a loopback URI's port may
differ (native apps take whatever port is free when they start).

The resource (RFC 8707, MCP "Canonical Server URI") is `<public url>/mcp`, compared with the
scheme and host in lower case, default ports dropped and no trailing slash.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}  # RFC 8252 §7.3 (and localhost, which real clients use)
MAX_URI = 1000


class InvalidRedirectUri(ValueError):
    """A redirect URI Sylo will not send a code to."""


def check_redirect_uri(uri: object) -> str:
    """`uri` when a client may register it, else InvalidRedirectUri saying why."""
    if not isinstance(uri, str) or not uri or len(uri) > MAX_URI or any(ord(c) < 33 or c == "\\" for c in uri):
        raise InvalidRedirectUri(f"{str(uri)[:80]!r} is not a URI")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        raise InvalidRedirectUri(f"{uri[:80]!r} is not a URI") from None
    if parts.fragment or "#" in uri:
        raise InvalidRedirectUri(f"{uri[:80]!r} has a fragment")
    if parts.username is not None or parts.password is not None:
        raise InvalidRedirectUri(f"{uri[:80]!r} carries a user name or password")
    if parts.scheme == "https" and parts.hostname:
        return uri
    if parts.scheme == "http" and is_loopback(uri):
        return uri
    raise InvalidRedirectUri(f"{uri[:80]!r} is neither https nor http to this computer (127.0.0.1, [::1], localhost)")


def is_loopback(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS


def redirect_matches(registered: str, requested: str) -> bool:
    """Exact match; for loopback URIs, exact but for the port."""
    if requested == registered:
        return True
    if not (is_loopback(registered) and is_loopback(requested)):
        return False
    try:
        mine, theirs = urlsplit(registered), urlsplit(requested)
        theirs.port  # noqa: B018
    except ValueError:
        return False
    return (mine.scheme, mine.hostname, mine.path, mine.query) == \
        (theirs.scheme, theirs.hostname, theirs.path, theirs.query)


def canonical(uri: str) -> str | None:
    """The canonical form of a resource URI, or None when it is not an absolute http(s) URI without fragment."""
    try:
        parts = urlsplit(uri.strip())
        port = parts.port
    except (ValueError, AttributeError):
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or parts.fragment:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[scheme]
    netloc = host if port in (None, default) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, ""))


def mcp_resource(public_url: str) -> str:
    """The protected resource: the MCP endpoint under the public URL, canonical."""
    return canonical(public_url.rstrip("/") + "/mcp") or public_url.rstrip("/") + "/mcp"


def host_of(uri: str) -> str:
    """The host a person should see: where a code is sent, or where a client's metadata lives."""
    try:
        parts = urlsplit(uri)
        return parts.hostname or uri
    except ValueError:
        return uri
