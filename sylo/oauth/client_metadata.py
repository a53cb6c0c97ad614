"""Clients that name themselves by URL: OAuth Client ID Metadata Documents (MCP 2025-11-25).

A `client_id` that is an https URL with a path is the address of a JSON document describing the
client. Sylo fetches it (no redirects, a few seconds, a few KiB), checks that the document names
itself by that exact URL and lists usable redirect URIs, and keeps it for its `Cache-Control`
max-age (5 minutes to a day). Fetching a URL a stranger chose is a server-side request forgery
risk (draft-ietf-oauth-client-id-metadata-document §6): hosts that resolve to loopback, private,
link-local or reserved addresses are refused unless the fetcher is built to allow them (tests).
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from datetime import timedelta
from urllib.parse import urlsplit

import httpx

from sylo.clock import utc_now
from sylo.oauth.store import ClientRecord
from sylo.oauth.uris import InvalidRedirectUri, check_redirect_uri

MAX_BYTES = 16 * 1024
DEFAULT_TTL, MIN_TTL, MAX_TTL = timedelta(hours=1), timedelta(minutes=5), timedelta(days=1)
GRANT_TYPES = ("authorization_code", "refresh_token")
_MAX_AGE = re.compile(r"max-age=(\d+)")


class MetadataRefused(ValueError):
    """The document could not be fetched or does not describe a client Sylo will talk to."""


def is_metadata_url(client_id: str) -> bool:
    """Whether a client_id names a metadata document: https, a host, and a path beyond "/"."""
    try:
        parts = urlsplit(client_id)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname) and parts.path not in ("", "/") and not parts.fragment


class ClientMetadataFetcher:
    """Fetch and check client ID metadata documents."""

    def __init__(self, *, allow_private: bool = False, verify=True, timeout: float = 5.0):
        self.allow_private, self.verify, self.timeout = allow_private, verify, timeout

    def fetch(self, client_id: str) -> ClientRecord:
        """The client the document at `client_id` describes, or MetadataRefused saying why not."""
        if not is_metadata_url(client_id) or len(client_id) > 1000:
            raise MetadataRefused("a client_id URL must be https with a path")
        self._check_host(urlsplit(client_id).hostname or "")
        try:
            with httpx.Client(verify=self.verify, timeout=self.timeout, follow_redirects=False) as http, \
                    http.stream("GET", client_id, headers={"Accept": "application/json"}) as response:
                if response.status_code != 200:
                    raise MetadataRefused(f"fetching it answered HTTP {response.status_code}")
                body = _read(response)
                cache_control = response.headers.get("Cache-Control", "")
        except httpx.HTTPError as error:
            raise MetadataRefused(f"it could not be fetched ({type(error).__name__})") from None
        try:
            document = json.loads(body)
        except ValueError:
            raise MetadataRefused("it is not JSON") from None
        return client_from_document(client_id, document, _ttl(cache_control))

    def _check_host(self, host: str) -> None:
        if self.allow_private:
            return
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)}
        except (OSError, UnicodeError):
            raise MetadataRefused(f"its host {host!r} does not resolve") from None
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            if not ip.is_global:
                raise MetadataRefused(f"its host {host!r} is not on the public internet")


def client_from_document(client_id: str, document: object, ttl: timedelta = DEFAULT_TTL) -> ClientRecord:
    """Check a metadata document against its URL and turn it into a public client record."""
    if not isinstance(document, dict):
        raise MetadataRefused("it is not a JSON object")
    if document.get("client_id") != client_id:
        raise MetadataRefused("its client_id is not the URL it was fetched from")
    name = document.get("client_name")
    if not isinstance(name, str) or not name.strip():
        raise MetadataRefused("it has no client_name")
    uris = document.get("redirect_uris")
    if not isinstance(uris, list) or not uris:
        raise MetadataRefused("it lists no redirect_uris")
    try:
        redirects = tuple(check_redirect_uri(uri) for uri in uris[:20])
    except InvalidRedirectUri as bad:
        raise MetadataRefused(f"a redirect URI is unusable: {bad}") from None
    method = document.get("token_endpoint_auth_method", "none")
    if method != "none" or "client_secret" in document:
        raise MetadataRefused("Sylo takes metadata-document clients as public clients (token_endpoint_auth_method none)")
    grants = document.get("grant_types") or list(GRANT_TYPES)
    if not isinstance(grants, list) or "authorization_code" not in grants or not set(grants) <= set(GRANT_TYPES):
        raise MetadataRefused("its grant_types must be authorization_code (and refresh_token)")
    uri = document.get("client_uri")
    return ClientRecord(client_id=client_id, kind="metadata_document", client_name=" ".join(name.split())[:200],
                        client_uri=uri[:1000] if isinstance(uri, str) and uri.startswith("https://") else None,
                        redirect_uris=redirects, grant_types=tuple(grants), token_endpoint_auth_method="none",
                        secret_hash=None, created_at=utc_now(), expires_at=utc_now() + ttl)


def _read(response: httpx.Response) -> bytes:
    body = b""
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_BYTES:
            raise MetadataRefused(f"it is larger than {MAX_BYTES} bytes")
    return body


def _ttl(cache_control: str) -> timedelta:
    """How long to keep a document: its max-age, within 5 minutes and a day (no-store: the minimum)."""
    if "no-store" in cache_control or "no-cache" in cache_control:
        return MIN_TTL
    found = _MAX_AGE.search(cache_control)
    if not found:
        return DEFAULT_TTL
    return min(MAX_TTL, max(MIN_TTL, timedelta(seconds=int(found.group(1)))))
