"""AppDB: reads and writes on the app DB, each a short transaction."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, bindparam, create_engine, event, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from sylo.appdb.schema import api_tokens, connection_events, connections, signing_secrets, users
from sylo.appdb.writes import one_writer_at_a_time

USER_COLUMNS = (users.c.id, users.c.email, users.c.display_name, users.c.created_at)
CONNECTION_COLUMNS = (connections.c.user_id, connections.c.integration, connections.c.connection_id,
                      connections.c.status, connections.c.last_error, connections.c.created_at,
                      connections.c.updated_at, connections.c.purge_requested_at)
from sylo.files import private_dir, private_file
from sylo import read_kinds
from sylo.keyring import Keyring
from sylo.clock import as_utc as _utc, utc_now as now

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
log = logging.getLogger(__name__)


TOKEN_PREFIX = "sylo_"
SECRET_PREFIX = "whsec_"  # Standard Webhooks: whsec_ + base64 of the key bytes
REENCRYPT_BATCH = 500

_OWNER = select(connections.c.user_id).where(connections.c.connection_id == bindparam("connection_id"),
                                             connections.c.integration == bindparam("integration"))
# Built once: every API request runs it, and SQLAlchemy then reuses the compiled form.
_TOKEN_OWNER = select(api_tokens.c.user_id, api_tokens.c.id, api_tokens.c.kinds).where(
    api_tokens.c.token_hash == bindparam("token_hash"), api_tokens.c.revoked_at.is_(None))
# The revocation generation: it changes whenever any process revokes a token (or a user and their
# tokens go), so a worker that sees it change forgets every token it remembered.
_REVOCATIONS = select(func.count(), func.max(api_tokens.c.revoked_at)).where(api_tokens.c.revoked_at.is_not(None))
REVOCATION_CHECK_SECONDS = 1.0


class UserExists(Exception):
    pass


class UnknownUser(LookupError):
    pass


@dataclass(frozen=True)
class User:
    id: str
    email: str | None
    display_name: str | None
    created_at: datetime


@dataclass(frozen=True)
class ConnectionRecord:
    user_id: str
    integration: str
    connection_id: str
    status: str
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    purge_requested_at: datetime | None = None


@dataclass(frozen=True)
class ConnectionEvent:
    id: int
    user_id: str
    integration: str
    connection_id: str
    kind: str
    source: str
    created_at: datetime


@dataclass(frozen=True)
class TokenInfo:
    """An API token's record; the token itself exists only in the caller's hands."""
    id: str
    user_id: str
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    kinds: tuple[str, ...] = read_kinds.PARTS  # the document kinds it may read


@dataclass(frozen=True)
class TokenOwner:
    """Who a live API token speaks for and what it may read."""
    user_id: str
    token_id: str
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class SecretInfo:
    """A signing secret's record, without the secret."""
    id: str
    user_id: str
    key_id: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class Credentials:
    """A new user with the API token and signing secret to hand over once."""
    user: User
    token: TokenInfo
    api_token: str = field(repr=False)
    secret: SecretInfo
    signing_secret: str = field(repr=False)


def engine_url(url: str) -> str:
    """Accept plain postgresql:// URLs; SQLAlchemy needs the driver named."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class AppDB:
    def __init__(self, url: str):
        self.url = engine_url(url)
        # Pre-ping catches a Postgres connection the server dropped; a local SQLite file needs none.
        self.engine: Engine = create_engine(self.url, pool_pre_ping=self.url.startswith("postgresql"))
        self.token_cache_seconds = 0.0
        self._token_cache: dict[str, tuple[TokenOwner, float]] = {}
        self._revocations: tuple | None = None
        self._revocations_checked = 0.0
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            one_writer_at_a_time(self.engine, _lock_path(self.engine))

    def __repr__(self) -> str:
        return f"AppDB({self.engine.dialect.name})"

    @classmethod
    def from_settings(cls, settings) -> "AppDB":
        if settings.app_db_url:
            return cls(settings.app_db_url)
        data_dir = private_dir(settings.data_dir, tighten=True)
        path = private_file(data_dir / "app.db")  # SQLite's journal files take its mode
        return cls(f"sqlite:///{path}")

    def migrate(self) -> None:
        """Bring the schema to the newest revision, in place."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "AppDB":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    # -- users ---------------------------------------------------------------------------------

    def create_user(self, user_id: str, email: str | None = None, display_name: str | None = None) -> User:
        user = User(user_id, email, display_name, now())
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(users).values(id=user.id, email=email, display_name=display_name,
                                                  created_at=user.created_at))
        except IntegrityError as exc:
            raise UserExists(f"a user with id {user_id!r} or email {email!r} already exists") from exc
        return user

    def ensure_user(self, user_id: str, email: str | None = None, display_name: str | None = None) -> User:
        return self.get_user(user_id) or self.create_user(user_id, email, display_name)

    def get_user(self, user_id: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(*USER_COLUMNS).where(users.c.id == user_id)).first()
        return User(*row) if row else None

    def list_users(self) -> list[User]:
        with self.engine.connect() as conn:
            return [User(*row) for row in conn.execute(select(*USER_COLUMNS).order_by(users.c.id))]

    def create_user_with_credentials(self, user_id: str, email: str | None, keyring: Keyring,
                                     display_name: str | None = None) -> Credentials:
        """User, API token and signing secret in one transaction: all of them or none."""
        user = User(user_id, email, display_name, now())
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(users).values(id=user.id, email=email, display_name=display_name,
                                                  created_at=user.created_at))
                token_info, token = _insert_token(conn, user_id, None, user.created_at)
                secret_info, secret = _insert_secret(conn, user_id, keyring, user.created_at)
        except IntegrityError as exc:
            raise UserExists(f"a user with id {user_id!r} or email {email!r} already exists") from exc
        return Credentials(user, token_info, token, secret_info, secret)

    # -- API tokens ----------------------------------------------------------------------------

    def issue_token(self, user_id: str, label: str | None = None,
                    kinds: tuple[str, ...] | None = None) -> tuple[TokenInfo, str]:
        """A new API token, reading `kinds` (default every kind); only its hash is stored, so the returned
        string is the only copy."""
        with self.engine.begin() as conn:
            _require_user(conn, user_id)
            return _insert_token(conn, user_id, label, now(), kinds)

    def user_for_token(self, token: str) -> str | None:
        """The user a live token belongs to (see `token_owner`)."""
        owner = self.token_owner(token)
        return owner.user_id if owner else None

    def token_owner(self, token: str) -> TokenOwner | None:
        """The user a live token belongs to and the kinds it may read, by one indexed lookup of its hash.

        With `token_cache_seconds` set (the API sets it), a token that matched is remembered that
        long in this process. A revocation made through this AppDB takes effect at once; one made
        elsewhere (another worker, the CLI) within `REVOCATION_CHECK_SECONDS`, because the cache is
        dropped whenever the revocation generation changes, and within `token_cache_seconds` at worst.
        """
        if not token.startswith(TOKEN_PREFIX):
            return None
        digest = hash_token(token)
        cached = self._token_cache.get(digest)
        if cached is not None and cached[1] > time.monotonic() and self._no_new_revocations():
            return cached[0]
        with self.engine.connect() as conn:
            row = conn.execute(_TOKEN_OWNER, {"token_hash": digest}).first()
        if row is None:
            self._token_cache.pop(digest, None)
            return None
        owner = TokenOwner(row.user_id, row.id, read_kinds.parse(row.kinds))
        if self.token_cache_seconds > 0:
            if len(self._token_cache) > 10_000:
                self._token_cache.clear()
            self._token_cache[digest] = (owner, time.monotonic() + self.token_cache_seconds)
        return owner

    def _no_new_revocations(self) -> bool:
        """False (and the cache emptied) when a token was revoked since the last look, taken once a second."""
        at = time.monotonic()
        if at < self._revocations_checked + REVOCATION_CHECK_SECONDS:
            return True
        self._revocations_checked = at
        try:
            with self.engine.connect() as conn:
                generation = tuple(conn.execute(_REVOCATIONS).one())
        except SQLAlchemyError:  # the app DB is away: remembered tokens hold until they expire
            log.warning("could not check for revoked API tokens; remembered tokens expire as usual")
            return True
        if generation == self._revocations:
            return True
        self._revocations = generation
        self._token_cache.clear()
        return False

    def tokens(self, user_id: str) -> list[TokenInfo]:
        query = select(api_tokens).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.created_at)
        with self.engine.connect() as conn:
            return [_token_info(row) for row in conn.execute(query)]

    def revoke_token(self, token_id: str, user_id: str | None = None) -> bool:
        """Revoke a live token; False when there is none with that id (for that user)."""
        query = update(api_tokens).where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        if user_id is not None:
            query = query.where(api_tokens.c.user_id == user_id)
        with self.engine.begin() as conn:
            revoked = conn.execute(query.values(revoked_at=now())).rowcount > 0
        for digest, (owner, _) in list(self._token_cache.items()):
            if owner.token_id == token_id:
                self._token_cache.pop(digest, None)
        return revoked

    # -- signing secrets -----------------------------------------------------------------------

    def add_signing_secret(self, user_id: str, keyring: Keyring) -> tuple[SecretInfo, str]:
        """A new signing secret beside any live ones, encrypted under the newest key."""
        with self.engine.begin() as conn:
            _require_user(conn, user_id)
            return _insert_secret(conn, user_id, keyring, now())

    def rotate_signing_secret(self, user_id: str, keyring: Keyring, grace: timedelta) -> tuple[SecretInfo, str]:
        """A new secret; the live ones stay valid for `grace`, so senders can switch without a gap."""
        at = now()
        ends = at + grace
        with self.engine.begin() as conn:
            _require_user(conn, user_id)
            conn.execute(update(signing_secrets).where(
                signing_secrets.c.user_id == user_id, signing_secrets.c.revoked_at.is_(None),
                or_(signing_secrets.c.expires_at.is_(None), signing_secrets.c.expires_at > ends),
            ).values(expires_at=ends))
            return _insert_secret(conn, user_id, keyring, at)

    def signing_secrets(self, user_id: str, keyring: Keyring, at: datetime | None = None) -> list[str]:
        """The user's valid secrets in clear, newest first: a signature under any of them passes."""
        at = at or now()
        query = (select(signing_secrets.c.id, signing_secrets.c.ciphertext)
                 .where(signing_secrets.c.user_id == user_id, signing_secrets.c.revoked_at.is_(None),
                        or_(signing_secrets.c.expires_at.is_(None), signing_secrets.c.expires_at > at))
                 .order_by(signing_secrets.c.created_at.desc()))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [keyring.decrypt(row.ciphertext, secret_aad(user_id, row.id)).decode() for row in rows]

    def signing_secret_infos(self, user_id: str) -> list[SecretInfo]:
        """Every secret record of a user, newest first, without the secrets."""
        query = (select(signing_secrets).where(signing_secrets.c.user_id == user_id)
                 .order_by(signing_secrets.c.created_at.desc()))
        with self.engine.connect() as conn:
            return [_secret_info(row) for row in conn.execute(query)]

    def revoke_signing_secret(self, secret_id: str, user_id: str | None = None) -> bool:
        query = update(signing_secrets).where(signing_secrets.c.id == secret_id,
                                              signing_secrets.c.revoked_at.is_(None))
        if user_id is not None:
            query = query.where(signing_secrets.c.user_id == user_id)
        with self.engine.begin() as conn:
            return conn.execute(query.values(revoked_at=now())).rowcount > 0

    def reencrypt(self, keyring: Keyring, batch_size: int = REENCRYPT_BATCH) -> int:
        """Move every secret under the newest key, batch by batch, so older keys can be dropped."""
        current = keyring.current_key_id
        stale = (select(signing_secrets.c.id, signing_secrets.c.user_id, signing_secrets.c.key_id,
                        signing_secrets.c.ciphertext)
                 .where(signing_secrets.c.key_id != current).order_by(signing_secrets.c.id).limit(batch_size))
        moved = 0
        while True:
            with self.engine.begin() as conn:
                rows = conn.execute(stale).all()
                for row in rows:
                    aad = secret_aad(row.user_id, row.id)
                    ciphertext = keyring.encrypt(keyring.decrypt(row.ciphertext, aad), aad)
                    moved += conn.execute(update(signing_secrets).where(
                        signing_secrets.c.id == row.id, signing_secrets.c.key_id == row.key_id,
                    ).values(ciphertext=ciphertext, key_id=current)).rowcount
            if len(rows) < batch_size:
                return moved

    # -- connections ---------------------------------------------------------------------------

    def connections(self, user_id: str | None = None) -> list[ConnectionRecord]:
        query = select(*CONNECTION_COLUMNS).order_by(connections.c.user_id, connections.c.integration)
        if user_id is not None:
            query = query.where(connections.c.user_id == user_id)
        with self.engine.connect() as conn:
            return [ConnectionRecord(*row) for row in conn.execute(query)]

    def connection_owner(self, connection_id: str, integration: str) -> str | None:
        """The user a connection belongs to, or None when Sylo has never seen it."""
        with self.engine.connect() as conn:
            return conn.execute(_OWNER, {"connection_id": connection_id, "integration": integration}).scalar()

    def record_connection(self, *, user_id: str, integration: str, connection_id: str, status: str, kind: str,
                          source: str, dedupe_key: str | None = None, error: str | None = None,
                          retry: bool = True) -> ConnectionEvent | None:
        """Set a connection's status and append the event, atomically; a repeated dedupe_key is a no-op.

        A connection's owner never changes: a change naming another user records nothing and
        returns None (callers that can answer, such as the webhook, refuse it before asking)."""
        at = now()
        try:
            with self.engine.begin() as conn:
                owner = conn.execute(_OWNER, {"connection_id": connection_id, "integration": integration}).scalar()
                if owner is not None and owner != user_id:
                    log.warning("refused to move %s connection %s from %r to %r", integration, connection_id,
                                owner, user_id)
                    return None
                result = conn.execute(insert(connection_events).values(
                    user_id=user_id, integration=integration, connection_id=connection_id, kind=kind, source=source,
                    dedupe_key=dedupe_key, created_at=at))
                changed = conn.execute(update(connections).where(
                    connections.c.connection_id == connection_id, connections.c.integration == integration,
                    connections.c.user_id == user_id,
                ).values(status=status, last_error=error, updated_at=at)).rowcount
                if not changed:
                    conn.execute(insert(connections).values(
                        user_id=user_id, integration=integration, connection_id=connection_id, status=status,
                        last_error=error, created_at=at, updated_at=at))
        except IntegrityError:
            if dedupe_key is None or not self._event_exists(dedupe_key):
                if retry:  # a concurrent writer created the connection row first: update it this time
                    return self.record_connection(user_id=user_id, integration=integration,
                                                  connection_id=connection_id, status=status, kind=kind,
                                                  source=source, dedupe_key=dedupe_key, error=error, retry=False)
                raise
            return None
        return ConnectionEvent(result.inserted_primary_key[0], user_id, integration, connection_id, kind, source, at)

    def request_purge(self, user_id: str, integration: str) -> int:
        """Ask the pipeline to delete what it synced from this service for this user."""
        with self.engine.begin() as conn:
            return conn.execute(update(connections).where(connections.c.user_id == user_id,
                                                          connections.c.integration == integration)
                                .values(purge_requested_at=now())).rowcount

    def pending_purges(self) -> list[ConnectionRecord]:
        query = select(*CONNECTION_COLUMNS).where(connections.c.purge_requested_at.is_not(None))
        with self.engine.connect() as conn:
            return [ConnectionRecord(*row) for row in conn.execute(query)]

    def purge_done(self, user_id: str, integration: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(connections).where(connections.c.user_id == user_id,
                                                   connections.c.integration == integration)
                         .values(purge_requested_at=None))

    def _event_exists(self, dedupe_key: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(connection_events.c.id)
                                .where(connection_events.c.dedupe_key == dedupe_key)).first() is not None

    def events_after(self, last_id: int, limit: int = 500) -> list[ConnectionEvent]:
        query = (select(connection_events.c.id, connection_events.c.user_id, connection_events.c.integration,
                        connection_events.c.connection_id, connection_events.c.kind, connection_events.c.source,
                        connection_events.c.created_at)
                 .where(connection_events.c.id > last_id).order_by(connection_events.c.id).limit(limit))
        with self.engine.connect() as conn:
            return [ConnectionEvent(*row) for row in conn.execute(query)]


def hash_token(token: str) -> str:
    """SHA-256 hex: tokens carry 256 random bits, so a slow password hash would add cost, not safety."""
    return hashlib.sha256(token.encode()).hexdigest()


def secret_aad(user_id: str, secret_id: str) -> bytes:
    """Binds a ciphertext to its row, so one copied to another user or row fails to decrypt."""
    return f"signing_secret:{user_id}:{secret_id}".encode()


def _token_info(row) -> TokenInfo:
    return TokenInfo(row.id, row.user_id, row.label, _utc(row.created_at), _utc(row.last_used_at),
                     _utc(row.revoked_at), read_kinds.parse(row.kinds))


def _secret_info(row) -> SecretInfo:
    return SecretInfo(row.id, row.user_id, row.key_id, _utc(row.created_at), _utc(row.expires_at),
                      _utc(row.revoked_at))


def _require_user(conn: Connection, user_id: str) -> None:
    if conn.execute(select(users.c.id).where(users.c.id == user_id)).first() is None:
        raise UnknownUser(f"no user with id {user_id!r}")


def _insert_token(conn: Connection, user_id: str, label: str | None, at: datetime,
                  kinds: tuple[str, ...] | None = None) -> tuple[TokenInfo, str]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    stored = read_kinds.to_column(kinds)
    info = TokenInfo(f"tok_{secrets.token_hex(6)}", user_id, label, at, None, None, read_kinds.parse(stored))
    conn.execute(insert(api_tokens).values(id=info.id, user_id=user_id, token_hash=hash_token(token), label=label,
                                           created_at=at, kinds=stored))
    return info, token


def _insert_secret(conn: Connection, user_id: str, keyring: Keyring, at: datetime) -> tuple[SecretInfo, str]:
    secret = SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode()
    info = SecretInfo(f"sec_{secrets.token_hex(6)}", user_id, keyring.current_key_id, at, None, None)
    conn.execute(insert(signing_secrets).values(
        id=info.id, user_id=user_id, key_id=info.key_id, created_at=at,
        ciphertext=keyring.encrypt(secret.encode(), secret_aad(user_id, info.id))))
    return info, secret


def _lock_path(engine: Engine) -> Path | None:
    """`app.db.writer` beside a SQLite file, the lock its writing processes queue on; None in memory."""
    database = engine.url.database
    return Path(database + ".writer") if database and database != ":memory:" else None


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL lets the API read while the pipeline writes; busy_timeout waits out short locks; FULL syncs
    the WAL on every commit, so a command acknowledged survives a power cut, not only a crash."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
