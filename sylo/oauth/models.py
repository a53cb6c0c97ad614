"""Sylo's OAuth records in the shapes Authlib's server asks for (authlib.oauth2.rfc6749 mixins)."""

from __future__ import annotations

from dataclasses import dataclass

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin

from sylo import read_kinds
from sylo.clock import utc_now
from sylo.oauth import scopes
from sylo.oauth.store import ClientRecord, CodeRecord, TokenRecord
from sylo.oauth.uris import redirect_matches


@dataclass(frozen=True)
class Owner:
    """The signed-in studio owner who approves a request, and what they allowed (scopes, document kinds)."""
    id: str
    allowed: tuple[str, ...] = scopes.ALL
    kinds: tuple[str, ...] = read_kinds.PARTS


class Client(ClientMixin):
    def __init__(self, record: ClientRecord):
        self.record = record

    @property
    def name(self) -> str:
        return self.record.client_name or self.record.client_id

    def get_client_id(self) -> str:
        return self.record.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # every authorization request names its redirect_uri, so the token request can match it

    def get_allowed_scope(self, scope: str | None) -> str:
        """What the owner is asked to allow: the known scopes the client named, or all of them when it named
        none of Sylo's (clients add `openid`, `offline_access` and the like; the consent page decides)."""
        return scopes.join(scopes.parse(scope) or scopes.ALL)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(redirect_matches(registered, redirect_uri) for registered in self.record.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        return self.record.check_secret(client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.record.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.record.grant_types


class AuthorizationCode(AuthorizationCodeMixin):
    code_challenge_method = "S256"

    def __init__(self, code: str, record: CodeRecord):
        self.code, self.record = code, record
        self.code_challenge = record.code_challenge

    def get_redirect_uri(self) -> str:
        return self.record.redirect_uri

    def get_scope(self) -> str:
        return self.record.scope


class Token(TokenMixin):
    def __init__(self, record: TokenRecord):
        self.record = record

    def check_client(self, client: Client) -> bool:
        return self.record.grant.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.record.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.record.expires_at - utc_now()).total_seconds()))

    def is_expired(self) -> bool:
        return self.record.expires_at <= utc_now()

    def is_revoked(self) -> bool:
        return self.record.revoked_at is not None or self.record.grant.revoked_at is not None

    def get_user(self) -> Owner:
        return Owner(self.record.grant.user_id)

    def get_client(self):
        return None  # not needed: revocation checks the client with check_client
