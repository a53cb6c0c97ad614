"""OAuth records in the app DB: clients, one-time codes, grants and their tokens, each change audited.

Codes, tokens and client secrets are random (256 bits) and stored as their SHA-256: a copy of the
database holds nothing usable. A code is spent by the UPDATE that creates its grant, so two
exchanges of one code cannot both succeed; a refresh token likewise by the UPDATE that rotates it.
A spent code or refresh token that comes back means someone else holds a copy: the grant it made
is revoked at once (OAuth 2.1 §4.1.3 and §4.3.1) and the owner's Activity says so.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update

from sylo.appdb.schema import audit_log, oauth_clients, oauth_codes, oauth_grants, oauth_tokens, users
from sylo import read_kinds
from sylo.clock import as_utc, utc_now
from sylo.oauth import scopes as scope_words

ACCESS_PREFIX, REFRESH_PREFIX = "syloat_", "sylort_"  # never "sylo_": that prefix names static API tokens
CODE_LIFETIME = timedelta(seconds=60)
LAST_USE_RESOLUTION = timedelta(seconds=60)  # last use is shown to the minute: write it at most once a minute
KEEP_EXPIRED = timedelta(days=1)  # spent codes and expired tokens stay a day, so a replay is recognised


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class ClientRecord:
    client_id: str
    kind: str  # registered | metadata_document
    client_name: str | None
    client_uri: str | None
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    token_endpoint_auth_method: str
    secret_hash: str | None
    created_at: datetime
    expires_at: datetime | None = None

    def check_secret(self, secret: str) -> bool:
        return self.secret_hash is not None and hmac.compare_digest(digest(secret), self.secret_hash)


@dataclass(frozen=True)
class CodeRecord:
    client_id: str
    user_id: str
    redirect_uri: str
    scope: str
    resource: str
    code_challenge: str
    expires_at: datetime
    used_at: datetime | None
    grant_id: str | None
    kinds: str | None = None  # as stored: NULL is every kind


@dataclass(frozen=True)
class Grant:
    id: str
    user_id: str
    client_id: str
    client_name: str | None
    redirect_uri: str
    scope: str
    resource: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    kinds: tuple[str, ...] = read_kinds.PARTS  # the document kinds the owner let it read

    @property
    def scopes(self) -> tuple[str, ...]:
        return scope_words.parse(self.scope)


@dataclass(frozen=True)
class TokenRecord:
    """A token with its grant: what a resource request or a refresh needs to know."""
    token_hash: str
    kind: str
    scope: str
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None
    grant: Grant

    def usable(self, at: datetime) -> bool:
        return self.revoked_at is None and self.grant.revoked_at is None and self.expires_at > at


@dataclass(frozen=True)
class Issued:
    """Tokens to hand to the client once: only their hashes are kept."""
    access_token: str
    refresh_token: str | None
    expires_in: int
    scope: str


class OAuthStore:
    def __init__(self, engine: Engine, access_lifetime: timedelta, refresh_lifetime: timedelta):
        self.engine = engine
        self.access_lifetime, self.refresh_lifetime = access_lifetime, refresh_lifetime

    # -- clients ---------------------------------------------------------------------------------

    def client(self, client_id: str) -> ClientRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(oauth_clients).where(oauth_clients.c.client_id == client_id)).first()
        return _client(row) if row else None

    def register_client(self, metadata: dict, *, confidential: bool) -> tuple[ClientRecord, str | None]:
        """A new client from validated RFC 7591 metadata; a confidential one gets a secret, returned once."""
        secret = secrets.token_urlsafe(32) if confidential else None
        record = ClientRecord(client_id="dcr_" + secrets.token_urlsafe(18), kind="registered",
                              client_name=metadata.get("client_name"), client_uri=metadata.get("client_uri"),
                              redirect_uris=tuple(metadata["redirect_uris"]),
                              grant_types=tuple(metadata["grant_types"]),
                              token_endpoint_auth_method=metadata["token_endpoint_auth_method"],
                              secret_hash=digest(secret) if secret else None, created_at=utc_now())
        with self.engine.begin() as conn:
            conn.execute(insert(oauth_clients).values(**_client_row(record)))
        return record, secret

    def remember_metadata_client(self, record: ClientRecord) -> None:
        """Cache a client read from its metadata document, replacing an older copy."""
        with self.engine.begin() as conn:
            conn.execute(delete(oauth_clients).where(oauth_clients.c.client_id == record.client_id))
            conn.execute(insert(oauth_clients).values(**_client_row(record)))

    # -- codes -----------------------------------------------------------------------------------

    def save_code(self, code: str, *, client_id: str, user_id: str, redirect_uri: str, scope: str, resource: str,
                  code_challenge: str, kinds: tuple[str, ...] | None = None) -> None:
        """Keep a new code's hash and what it was issued for (`kinds`: what it may read, default every kind),
        for 60 seconds."""
        at = utc_now()
        with self.engine.begin() as conn:
            conn.execute(delete(oauth_codes).where(oauth_codes.c.expires_at < at - KEEP_EXPIRED))
            conn.execute(insert(oauth_codes).values(
                code_hash=digest(code), client_id=client_id, user_id=user_id, redirect_uri=redirect_uri, scope=scope,
                resource=resource, code_challenge=code_challenge, created_at=at, expires_at=at + CODE_LIFETIME,
                kinds=read_kinds.to_column(kinds)))

    def code(self, code: str, client_id: str) -> CodeRecord | None:
        """The code issued to this client, spent or not; None when there is no such code for it."""
        query = select(oauth_codes).where(oauth_codes.c.code_hash == digest(code),
                                          oauth_codes.c.client_id == client_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return CodeRecord(row.client_id, row.user_id, row.redirect_uri, row.scope, row.resource, row.code_challenge,
                          as_utc(row.expires_at), as_utc(row.used_at), row.grant_id, row.kinds)

    def refuse_replayed_code(self, record: CodeRecord) -> None:
        """A spent code came back: revoke the grant its first exchange made."""
        if record.grant_id:
            self.revoke_grant(record.grant_id, by="reuse",
                              detail="an authorization code was presented a second time; the grant it made is revoked")

    def exchange_code(self, code: str, record: CodeRecord, client_name: str | None) -> Issued | None:
        """Spend the code and create its grant and first tokens, atomically; None if it was spent meanwhile."""
        at, grant_id = utc_now(), "grt_" + secrets.token_hex(12)
        with self.engine.begin() as conn:
            spent = conn.execute(update(oauth_codes).where(
                oauth_codes.c.code_hash == digest(code), oauth_codes.c.used_at.is_(None),
                oauth_codes.c.expires_at > at).values(used_at=at, grant_id=grant_id)).rowcount
            if not spent:
                return None
            conn.execute(insert(oauth_grants).values(
                id=grant_id, user_id=record.user_id, client_id=record.client_id, client_name=client_name,
                redirect_uri=record.redirect_uri, scope=record.scope, resource=record.resource, created_at=at,
                kinds=record.kinds))
            issued = self._insert_tokens(conn, grant_id, record.scope, at)
            _audit(conn, record.user_id, "oauth.granted", at,
                   f"{client_name or record.client_id} may now: {_plain(record.scope, record.kinds)} (grant {grant_id})")
        return issued

    # -- tokens ----------------------------------------------------------------------------------

    def token(self, token: str) -> TokenRecord | None:
        """A token and its grant, whatever its state; None when Sylo never issued it."""
        if not token.startswith((ACCESS_PREFIX, REFRESH_PREFIX)):
            return None
        query = (select(oauth_tokens, *[c.label(f"g_{c.name}") for c in oauth_grants.c])
                 .join(oauth_grants, oauth_grants.c.id == oauth_tokens.c.grant_id)
                 .where(oauth_tokens.c.token_hash == digest(token)))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        grant = Grant(row.g_id, row.g_user_id, row.g_client_id, row.g_client_name, row.g_redirect_uri, row.g_scope,
                      row.g_resource, as_utc(row.g_created_at), as_utc(row.g_last_used_at), as_utc(row.g_revoked_at),
                      row.g_revoked_by, read_kinds.parse(row.g_kinds))
        return TokenRecord(row.token_hash, row.kind, row.scope, as_utc(row.expires_at), as_utc(row.used_at),
                           as_utc(row.revoked_at), grant)

    def access(self, token: str, resource: str) -> TokenRecord | None:
        """A live access token for `resource`; its grant's last use is noted (to the minute)."""
        if not token.startswith(ACCESS_PREFIX):
            return None
        record = self.token(token)
        at = utc_now()
        if record is None or record.kind != "access" or not record.usable(at) or record.grant.resource != resource:
            return None
        last = record.grant.last_used_at
        if last is None or at - last >= LAST_USE_RESOLUTION:
            with self.engine.begin() as conn:
                conn.execute(update(oauth_grants).where(oauth_grants.c.id == record.grant.id).values(last_used_at=at))
        return record

    def rotate(self, old: TokenRecord, scope: str) -> Issued | None:
        """Spend a refresh token for new tokens (the old one never works again); None if spent meanwhile."""
        at = utc_now()
        with self.engine.begin() as conn:
            spent = conn.execute(update(oauth_tokens).where(
                oauth_tokens.c.token_hash == old.token_hash, oauth_tokens.c.used_at.is_(None),
                oauth_tokens.c.revoked_at.is_(None), oauth_tokens.c.expires_at > at).values(used_at=at)).rowcount
            if not spent:
                return None
            conn.execute(delete(oauth_tokens).where(oauth_tokens.c.expires_at < at - KEEP_EXPIRED))
            issued = self._insert_tokens(conn, old.grant.id, scope, at)
            _audit(conn, old.grant.user_id, "oauth.refreshed", at,
                   f"{old.grant.client_name or old.grant.client_id} refreshed its access (grant {old.grant.id})")
        return issued

    def refuse_replayed_refresh(self, record: TokenRecord) -> None:
        """A rotated refresh token came back: two parties hold it, so the grant ends."""
        self.revoke_grant(record.grant.id, by="reuse",
                          detail="a refresh token was used a second time; the grant is revoked")

    def _insert_tokens(self, conn, grant_id: str, scope: str, at: datetime) -> Issued:
        access, refresh = ACCESS_PREFIX + secrets.token_urlsafe(32), REFRESH_PREFIX + secrets.token_urlsafe(32)
        conn.execute(insert(oauth_tokens), [
            dict(token_hash=digest(access), grant_id=grant_id, kind="access", scope=scope, created_at=at,
                 expires_at=at + self.access_lifetime),
            dict(token_hash=digest(refresh), grant_id=grant_id, kind="refresh", scope=scope, created_at=at,
                 expires_at=at + self.refresh_lifetime)])
        return Issued(access, refresh, int(self.access_lifetime.total_seconds()), scope)

    # -- grants ----------------------------------------------------------------------------------

    def grants(self, user_id: str) -> list[Grant]:
        """The user's live grants, newest first."""
        query = (select(oauth_grants).where(oauth_grants.c.user_id == user_id, oauth_grants.c.revoked_at.is_(None))
                 .order_by(oauth_grants.c.created_at.desc()))
        with self.engine.connect() as conn:
            return [_grant(row) for row in conn.execute(query)]

    def revoke_grant(self, grant_id: str, *, by: str, user_id: str | None = None, detail: str | None = None) -> bool:
        """End a grant and every token it holds, at once; False when there is no live grant by that id."""
        at = utc_now()
        query = update(oauth_grants).where(oauth_grants.c.id == grant_id, oauth_grants.c.revoked_at.is_(None))
        if user_id is not None:
            query = query.where(oauth_grants.c.user_id == user_id)
        with self.engine.begin() as conn:
            if not conn.execute(query.values(revoked_at=at, revoked_by=by)).rowcount:
                return False
            conn.execute(update(oauth_tokens).where(oauth_tokens.c.grant_id == grant_id,
                                                    oauth_tokens.c.revoked_at.is_(None)).values(revoked_at=at))
            grant = _grant(conn.execute(select(oauth_grants).where(oauth_grants.c.id == grant_id)).one())
            who = {"owner": "you revoked", "client": "the app gave up", "reuse": "Sylo revoked"}[by]
            _audit(conn, grant.user_id, "oauth.revoked", at, detail or
                   f"{who} the access of {grant.client_name or grant.client_id} (grant {grant_id})",
                   outcome="refused" if by == "reuse" else "ok")
        return True

    def user_exists(self, user_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(users.c.id).where(users.c.id == user_id)).first() is not None


def _plain(scope: str, kinds: str | None = None) -> str:
    reads = "read your context" if kinds is None else f"read {read_kinds.describe(read_kinds.parse(kinds))}"
    words = {scope_words.READ: reads, scope_words.WRITE: "send commands"}
    return " and ".join(words[s] for s in scope_words.parse(scope)) or "nothing"


def _audit(conn, user_id: str, kind: str, at: datetime, detail: str, outcome: str = "ok") -> None:
    conn.execute(insert(audit_log).values(user_id=user_id, kind=kind, outcome=outcome, source="oauth",
                                          detail=detail[:2000], created_at=at))


def _client(row) -> ClientRecord:
    return ClientRecord(row.client_id, row.kind, row.client_name, row.client_uri, tuple(json.loads(row.redirect_uris)),
                        tuple(json.loads(row.grant_types)), row.token_endpoint_auth_method, row.secret_hash,
                        as_utc(row.created_at), as_utc(row.expires_at))


def _client_row(record: ClientRecord) -> dict:
    return dict(client_id=record.client_id, kind=record.kind, client_name=record.client_name,
                client_uri=record.client_uri, redirect_uris=json.dumps(list(record.redirect_uris)),
                grant_types=json.dumps(list(record.grant_types)),
                token_endpoint_auth_method=record.token_endpoint_auth_method, secret_hash=record.secret_hash,
                created_at=record.created_at, expires_at=record.expires_at)


def _grant(row) -> Grant:
    return Grant(row.id, row.user_id, row.client_id, row.client_name, row.redirect_uri, row.scope, row.resource,
                 as_utc(row.created_at), as_utc(row.last_used_at), as_utc(row.revoked_at), row.revoked_by,
                 read_kinds.parse(row.kinds))
