"""Clients named by URL (OAuth Client ID Metadata Documents): fetched over TLS, checked, cached, refused.

The document is served by a real HTTPS server on 127.0.0.1 with a certificate made for the test;
Sylo's fetcher is built to trust that certificate and, for this test only, to reach a loopback
host (which it refuses by default: server-side request forgery).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from api import create_app
from sylo.accounts import Accounts
from sylo.oauth.client_metadata import ClientMetadataFetcher, MetadataRefused
from tests.api.oauth_client import OAuthClient

REDIRECT = "http://127.0.0.1:48123/oauth/callback"


class MetadataHost:
    """An HTTPS server whose documents the test sets, counting the fetches."""

    def __init__(self, tmp_path):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
                .not_valid_after(now + dt.timedelta(hours=1))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                               critical=False)
                .sign(key, hashes.SHA256()))
        self.cert, self.key = tmp_path / "cert.pem", tmp_path / "key.pem"
        self.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        self.documents: dict[str, tuple[int, bytes, dict]] = {}
        self.fetches = 0
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True,
                                  ssl_context=(str(self.cert), str(self.key)))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"https://127.0.0.1:{self.server.server_port}"

    @Request.application
    def app(self, request: Request) -> Response:
        self.fetches += 1
        status, body, headers = self.documents.get(request.path, (404, b"{}", {}))
        return Response(body, status=status, content_type="application/json", headers=headers)

    def serve(self, path: str, document: dict | bytes, status: int = 200, **headers) -> str:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.documents[path] = (status, body, headers)
        return self.base + path

    def trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture
def host(tmp_path):
    served = MetadataHost(tmp_path)
    yield served
    served.server.shutdown()


@pytest.fixture
def oauth(deployment, host) -> OAuthClient:
    app = create_app(deployment.settings, deployment.appdb)
    app.extensions["sylo"].oauth.fetcher = ClientMetadataFetcher(allow_private=True, verify=host.trust())
    http = app.test_client()
    token, _ = Accounts(deployment.appdb.engine).start_session(deployment.users[0])
    http.set_cookie("sylo_session", token)
    return OAuthClient(http, redirect_uri=REDIRECT)


def document(client_id: str, **fields) -> dict:
    return {"client_id": client_id, "client_name": "Example MCP Client", "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": "none", **fields}


def test_a_client_named_by_its_metadata_document_connects(oauth, host):
    client_id = host.base + "/oauth/client.json"
    host.serve("/oauth/client.json", document(client_id), **{"Cache-Control": "max-age=600"})
    oauth.client_id = client_id
    page = oauth.consent_page().get_data(as_text=True)
    assert "Example MCP Client" in page and "describes itself at <strong>127.0.0.1</strong>" in page
    tokens = oauth.exchange(oauth.code()).get_json()
    assert oauth.mcp(tokens["access_token"]).status_code == 200
    assert oauth.refresh(tokens["refresh_token"]).status_code == 200
    assert host.fetches == 1  # cached for its max-age across the consent page, the code and the tokens


@pytest.mark.parametrize(("tamper", "why"), [
    (lambda url: document(url + "?other"), "client_id is not the URL"),
    (lambda url: document(url, redirect_uris=["https://elsewhere.example/cb"]), "not supported by client"),
    (lambda url: document(url, redirect_uris=["http://evil.example/cb"]), "redirect URI is unusable"),
    (lambda url: document(url, token_endpoint_auth_method="private_key_jwt"), "public clients"),
    (lambda url: {k: v for k, v in document(url).items() if k != "client_name"}, "no client_name"),
    (lambda url: b"<html>not json</html>", "not JSON"),
    (lambda url: b"{" + b" " * 20_000 + b"}", "larger than"),
])
def test_a_document_that_does_not_describe_a_usable_client_is_refused(oauth, host, tamper, why):
    client_id = host.base + "/client.json"
    host.serve("/client.json", tamper(client_id))
    oauth.client_id = client_id
    response = oauth.consent_page()
    assert response.status_code == 400 and "Location" not in response.headers
    assert why in response.get_data(as_text=True)


def test_a_redirect_or_an_error_from_the_metadata_host_is_refused(oauth, host):
    oauth.client_id = host.serve("/moved.json", b"{}", status=302, Location=host.base + "/client.json")
    assert "HTTP 302" in oauth.consent_page().get_data(as_text=True)


@pytest.mark.parametrize("client_id", ["https://127.0.0.1/client.json", "https://localhost/client.json",
                                       "https://10.0.0.8/client.json", "https://169.254.169.254/latest/meta-data",
                                       "https://[::1]/client.json"])
def test_the_default_fetcher_never_reaches_private_addresses(client_id):
    with pytest.raises(MetadataRefused, match="not on the public internet"):
        ClientMetadataFetcher().fetch(client_id)
