"""A test-side OAuth client over Flask's test client: discovery, registration, consent, tokens.

It does what an MCP client does (reference/protocols.md §1.6), step by step, so each test can stop
at the step it is about and tamper with it. The studio owner's side is the real dashboard: a
server-side session and the consent form with its CSRF token.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient

MCP_INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
REDIRECT = "http://127.0.0.1:48123/oauth/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@dataclass
class OAuthClient:
    http: FlaskClient
    base: str = "http://localhost"
    redirect_uri: str = REDIRECT
    client_id: str | None = None
    client_secret: str | None = None
    auth_method: str = "none"
    verifier: str | None = None
    state: str = field(default_factory=lambda: secrets.token_urlsafe(8))

    @property
    def resource(self) -> str:
        return self.base + "/mcp"

    def discover(self) -> dict:
        """From a 401 on /mcp to the authorization server's metadata, as the MCP spec has clients do."""
        challenge = self.http.post("/mcp", json=MCP_INIT).headers["WWW-Authenticate"]
        metadata_url = re.search(r'resource_metadata="([^"]+)"', challenge).group(1)
        resource = self.http.get(urlsplit(metadata_url).path).get_json()
        issuer = resource["authorization_servers"][0]
        return self.http.get(urlsplit(issuer).path.rstrip("/") + "/.well-known/oauth-authorization-server").get_json()

    def register(self, **metadata) -> dict:
        body = {"client_name": "Test Agent", "redirect_uris": [self.redirect_uri], "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"], **metadata}
        response = self.http.post("/oauth/register", json=body)
        assert response.status_code == 201, response.get_json()
        registered = response.get_json()
        self.client_id, self.client_secret = registered["client_id"], registered.get("client_secret")
        self.auth_method = registered["token_endpoint_auth_method"]
        return registered

    def authorization_params(self, **overrides) -> dict:
        self.verifier, challenge = pkce()
        params = {"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                  "state": self.state, "code_challenge": challenge, "code_challenge_method": "S256",
                  "scope": "context:read commands:write", "resource": self.resource, **overrides}
        return {key: value for key, value in params.items() if value is not None}

    def consent_page(self, **overrides):
        return self.http.get("/oauth/authorize", query_string=self.authorization_params(**overrides))

    def approve(self, decision: str = "allow", commands: bool = True, **overrides):
        """The owner's answer on the consent page; the response is the redirect back to the client."""
        params = self.authorization_params(**overrides)
        page = self.http.get("/oauth/authorize", query_string=params)
        assert page.status_code == 200, page.get_data(as_text=True)[:500]
        form = {**params, "csrf_token": csrf(page.get_data(as_text=True)), "decision": decision}
        if commands:
            form["commands"] = "yes"
        return self.http.post("/oauth/authorize", data=form)

    def code(self, **overrides) -> str:
        answer = self.approve(**overrides)
        assert answer.status_code == 302, answer.get_data(as_text=True)[:500]
        returned = query(answer.headers["Location"])
        assert returned["state"] == self.state and returned["iss"] == self.base
        return returned["code"]

    def token(self, **form):
        body, headers = {"client_id": self.client_id, **form}, {}
        if self.auth_method == "client_secret_post":
            body["client_secret"] = self.client_secret
        elif self.auth_method == "client_secret_basic":
            pair = f"{self.client_id}:{self.client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return self.http.post("/oauth/token", data={k: v for k, v in body.items() if v is not None}, headers=headers)

    def exchange(self, code: str, **overrides):
        return self.token(**{"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                             "code_verifier": self.verifier, "resource": self.resource, **overrides})

    def refresh(self, refresh_token: str, **overrides):
        return self.token(**{"grant_type": "refresh_token", "refresh_token": refresh_token, "resource": self.resource,
                             **overrides})

    def revoke(self, token: str):
        return self.http.post("/oauth/revoke", data={"token": token, "client_id": self.client_id})

    def tokens(self, **overrides) -> dict:
        """Register (if needed), approve and exchange: the client's first tokens."""
        if self.client_id is None:
            self.register()
        response = self.exchange(self.code(**overrides))
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def mcp(self, access_token: str, message: dict = TOOLS_LIST):
        return self.http.post("/mcp", json=message, headers={"Authorization": f"Bearer {access_token}",
                                                             "Accept": "application/json, text/event-stream"})
