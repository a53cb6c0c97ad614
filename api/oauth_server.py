"""Authlib's authorization server, told about Sylo: its store, its rules, its one protected resource.

Authlib (authlib.integrations.flask_oauth2) validates the requests: clients and their
authentication, redirect URIs, scopes, PKCE, refresh-token scope narrowing, RFC 7009 revocation,
RFC 7591 registration metadata and RFC 9207's `iss`. Sylo adds what Authlib leaves open:
S256 required for every client, RFC 8707 `resource` bound to `<public url>/mcp`, the app DB store
(codes and refresh tokens spent atomically, replays revoking the grant), clients named by a
metadata-document URL, and the metadata documents themselves (`metadata`).
"""

from __future__ import annotations

import time
from datetime import timedelta

from authlib.consts import default_json_headers
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload
from authlib.oauth2 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, JsonPayload, JsonRequest
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint, InvalidClientMetadataError, InvalidRedirectURIError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Request, request as flask_request

from sylo.clock import utc_now
from sylo.oauth import scopes
from sylo.oauth.client_metadata import ClientMetadataFetcher, MetadataRefused, is_metadata_url
from sylo.oauth.models import AuthorizationCode, Client, Owner, Token
from sylo.oauth.store import Issued, OAuthStore
from sylo.oauth.uris import InvalidRedirectUri, canonical, check_redirect_uri, mcp_resource

AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"]
PATHS = {"authorization_endpoint": "/oauth/authorize", "token_endpoint": "/oauth/token",
         "registration_endpoint": "/oauth/register", "revocation_endpoint": "/oauth/revoke"}


class InvalidTarget(OAuth2Error):
    """RFC 8707 §2: the resource asked for is not one this server issues tokens for."""
    error = "invalid_target"


class SyloAuthorizationServer(AuthorizationServer):
    """One per app: Authlib's Flask server over Sylo's store, for the public URL of each request."""

    def __init__(self, store: OAuthStore, fetcher: ClientMetadataFetcher, public_url):
        super().__init__()
        self.store, self.fetcher, self.public_url = store, fetcher, public_url
        self.scopes_supported = list(scopes.ALL)
        self.register_grant(CodeGrant, [RequireS256(), ResourceIndicator()])
        self.register_grant(RefreshGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Registration)
        self.register_extension(Issuer(self))

    @property
    def issuer(self) -> str:
        return self.public_url()

    @property
    def resource(self) -> str:
        return mcp_resource(self.public_url())

    def metadata(self) -> dict:
        """RFC 8414 authorization server metadata (with MCP's client-ID-metadata-document flag)."""
        base = self.issuer
        return {"issuer": base, **{name: base + path for name, path in PATHS.items()},
                "scopes_supported": list(scopes.ALL), "response_types_supported": ["code"],
                "response_modes_supported": ["query"], "grant_types_supported": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_methods_supported": AUTH_METHODS,
                "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
                "code_challenge_methods_supported": ["S256"],
                "authorization_response_iss_parameter_supported": True,
                "client_id_metadata_document_supported": True}

    def validate_requested_scope(self, scope) -> None:
        """Scopes Sylo does not know are ignored, not refused (RFC 6749 §3.3): the token response says what was granted."""

    def query_client(self, client_id: str) -> Client | None:
        """A registered client, or one named by its metadata document's URL (fetched when not cached)."""
        if not isinstance(client_id, str) or not client_id or len(client_id) > 1000:
            return None
        record = self.store.client(client_id)
        if is_metadata_url(client_id) and (record is None or record.expires_at is None or record.expires_at <= utc_now()):
            try:
                record = self.fetcher.fetch(client_id)
            except MetadataRefused as refused:
                raise InvalidClientError(_ascii(f"Sylo could not use the client metadata document at client_id: "
                                                f"{refused}.")) from None
            self.store.remember_metadata_client(record)
        return Client(record) if record is not None else None

    def save_token(self, token, request):
        raise NotImplementedError("Sylo's grants store their tokens themselves, with the code or token they spend")

    def create_oauth2_request(self, request) -> OAuth2Request:
        return _OAuth2Request(flask_request, self.public_url() + flask_request.full_path.rstrip("?"))


class InvalidClientError(OAuth2Error):
    error = "invalid_client"
    status_code = 400


class _OAuth2Request(OAuth2Request):
    """Authlib's Flask request, on the public URL: behind a TLS proxy the WSGI URL says http."""

    def __init__(self, request: Request, uri: str):
        super().__init__(method=request.method, uri=uri, headers=request.headers)
        self._request = request
        self.payload = FlaskOAuth2Payload(request)

    @property
    def args(self):
        return self._request.args

    @property
    def form(self):
        return self._request.form


class RequireS256(CodeChallenge):
    """PKCE for every client, S256 only (OAuth 2.1 §4.1.1; MCP: clients MUST use S256)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256.")
        super().validate_code_challenge(grant, redirect_uri)


class ResourceIndicator:
    """RFC 8707: a code and its tokens are for `<public url>/mcp` and nothing else."""

    def __call__(self, grant) -> None:
        grant.register_hook("after_validate_authorization_request_payload", self.at_authorization)
        grant.register_hook("after_validate_token_request", self.at_token)

    @staticmethod
    def at_authorization(grant, _result) -> None:
        grant.request.resource = checked_resource(grant.request, grant.server.resource)

    @staticmethod
    def at_token(grant, _result) -> None:
        checked_resource(grant.request, grant.request.authorization_code.record.resource)


def checked_resource(request: OAuth2Request, expected: str) -> str:
    """The one resource a request names (or `expected` when it names none); InvalidTarget for any other."""
    asked = request.payload.datalist.get("resource", [])
    if len(asked) > 1:
        raise InvalidTarget("Sylo issues tokens for one resource at a time.")
    if asked and canonical(asked[0]) != expected:
        raise InvalidTarget(f"Sylo issues tokens only for its MCP endpoint, {expected}.")
    return expected


class Issuer(IssuerParameter):
    """RFC 9207: every authorization response names the issuer, so a client can tell servers apart."""

    def __init__(self, server: SyloAuthorizationServer):
        self.server = server

    def get_issuer(self) -> str:
        return self.server.issuer


class CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        owner: Owner = request.user
        granted = scopes.join(set(scopes.parse(request.scope)) & set(owner.allowed))
        self.server.store.save_code(code, client_id=request.client.get_client_id(), user_id=owner.id,
                                    redirect_uri=request.payload.redirect_uri, scope=granted,
                                    resource=request.resource, code_challenge=request.payload.data["code_challenge"],
                                    kinds=owner.kinds)

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        store = self.server.store
        record = store.code(code, client.get_client_id())
        if record is None:
            return None
        if record.used_at is not None:
            store.refuse_replayed_code(record)
            return None
        return AuthorizationCode(code, record) if record.expires_at > utc_now() else None

    def delete_authorization_code(self, authorization_code) -> None:
        """Nothing to delete: the exchange spent it (a spent code stays a day, to recognise a replay)."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Owner | None:
        user_id = authorization_code.record.user_id
        return Owner(user_id) if self.server.store.user_exists(user_id) else None

    def create_token_response(self):
        code: AuthorizationCode = self.request.authorization_code
        if self.authenticate_user(code) is None:
            raise InvalidGrantError("The account that approved this code no longer exists.")
        issued = self.server.store.exchange_code(code.code, code.record, self.request.client.name)
        if issued is None:
            raise InvalidGrantError("This code has already been used.")
        return 200, token_body(issued), self.TOKEN_RESPONSE_HEADER


class RefreshGrant(RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        store = self.server.store
        record = store.token(refresh_token)
        if record is None or record.kind != "refresh":
            return None
        if record.used_at is not None:
            store.refuse_replayed_refresh(record)
            return None
        return Token(record) if record.usable(utc_now()) else None

    def authenticate_user(self, refresh_token: Token) -> Owner | None:
        owner = refresh_token.get_user()
        return owner if self.server.store.user_exists(owner.id) else None

    def validate_token_request(self) -> None:
        super().validate_token_request()
        checked_resource(self.request, self.request.refresh_token.record.grant.resource)

    def create_token_response(self):
        token: Token = self.request.refresh_token
        if self.authenticate_user(token) is None:
            raise InvalidGrantError("The account that granted this access no longer exists.")
        scope = scopes.join(scopes.parse(self.request.payload.scope or token.get_scope()))
        issued = self.server.store.rotate(token.record, scope)
        if issued is None:
            raise InvalidGrantError("This refresh token has already been used.")
        return 200, token_body(issued), self.TOKEN_RESPONSE_HEADER

    def revoke_old_credential(self, refresh_token) -> None:
        """Nothing to do: `rotate` spent it in the transaction that issued its successor."""


class Revocation(RevocationEndpoint):
    """RFC 7009: revoking either token of a grant ends the whole grant (§2.1 allows it; simplest to trust)."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        record = self.server.store.token(token_string)
        return Token(record) if record is not None else None

    def revoke_token(self, token: Token, request) -> None:
        self.server.store.revoke_grant(token.record.grant.id, by="client")


class Registration(ClientRegistrationEndpoint):
    """RFC 7591 dynamic client registration, open to anyone (the route throttles it per address).

    Registering grants nothing: the owner still approves each client on the consent page, which
    names what the client calls itself and where its codes go."""

    def create_endpoint_request(self, request):
        return request  # the route hands over a JsonRequest it read within its body limit

    def authenticate_token(self, request) -> bool:
        return True

    def get_server_metadata(self) -> dict:
        return self.server.metadata()

    def extract_client_metadata(self, request) -> dict:
        uris = (request.payload.data or {}).get("redirect_uris")
        if not isinstance(uris, list) or not uris or len(uris) > 20:
            raise InvalidRedirectURIError("Register between 1 and 20 redirect_uris.")
        try:
            redirects = [check_redirect_uri(uri) for uri in uris]
        except InvalidRedirectUri as bad:
            raise InvalidRedirectURIError(_ascii(f"{bad}.")) from None
        metadata = super().extract_client_metadata(request)
        metadata["redirect_uris"] = redirects
        metadata["grant_types"] = metadata.get("grant_types") or ["authorization_code", "refresh_token"]
        if "authorization_code" not in metadata["grant_types"]:
            raise InvalidClientMetadataError("Sylo's clients use the authorization_code grant.")
        name = metadata.get("client_name")
        metadata["client_name"] = " ".join(name.split())[:200] if isinstance(name, str) and name.strip() else None
        metadata.pop("scope", None)  # the owner decides on the consent page
        return metadata

    def create_registration_response(self, request):
        metadata = self.extract_client_metadata(request)
        record, secret = self.server.store.register_client(
            metadata, confidential=metadata["token_endpoint_auth_method"] != "none")
        body = {**metadata, "client_id": record.client_id, "client_id_issued_at": int(time.time())}
        if secret is not None:
            body |= {"client_secret": secret, "client_secret_expires_at": 0}
        return 201, body, default_json_headers


class _JsonPayload(JsonPayload):
    def __init__(self, data):
        self._data = data

    @property
    def data(self):
        return self._data


def json_request(data, uri: str) -> JsonRequest:
    """A registration request whose JSON body the route has already read and parsed."""
    request = JsonRequest(flask_request.method, uri, flask_request.headers)
    request.payload = _JsonPayload(data if isinstance(data, dict) else None)
    return request


def token_body(issued: Issued) -> dict:
    return {"access_token": issued.access_token, "token_type": "Bearer", "expires_in": issued.expires_in,
            "refresh_token": issued.refresh_token, "scope": issued.scope}


def _ascii(text: str) -> str:
    """RFC 6749 error descriptions are printable ASCII without quote or backslash."""
    return "".join(c if 0x20 <= ord(c) <= 0x7E and c not in '"\\' else "?" for c in text)


def build(store_engine, settings, public_url) -> SyloAuthorizationServer:
    """The server for one app, with the lifetimes from settings."""
    store = OAuthStore(store_engine, timedelta(minutes=settings.oauth_access_token_minutes),
                       timedelta(days=settings.oauth_refresh_token_days))
    return SyloAuthorizationServer(store, ClientMetadataFetcher(), public_url)
