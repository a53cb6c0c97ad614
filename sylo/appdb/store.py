"""AppDB: reads and writes on the app DB, each a short transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, insert, select, update
from sqlalchemy.exc import IntegrityError

from sylo.appdb.schema import connection_events, connections, users

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class UserExists(Exception):
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


@dataclass(frozen=True)
class ConnectionEvent:
    id: int
    user_id: str
    integration: str
    connection_id: str
    kind: str
    source: str
    created_at: datetime


def now() -> datetime:
    return datetime.now(timezone.utc)


def engine_url(url: str) -> str:
    """Accept plain postgresql:// URLs; SQLAlchemy needs the driver named."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class AppDB:
    def __init__(self, url: str):
        self.url = engine_url(url)
        self.engine: Engine = create_engine(self.url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)

    def __repr__(self) -> str:
        return f"AppDB({self.engine.dialect.name})"

    @classmethod
    def from_settings(cls, settings) -> "AppDB":
        if settings.app_db_url:
            return cls(settings.app_db_url)
        path = Path(settings.data_dir) / "app.db"
        path.parent.mkdir(parents=True, exist_ok=True)
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
            row = conn.execute(select(users).where(users.c.id == user_id)).first()
        return User(*row) if row else None

    def list_users(self) -> list[User]:
        with self.engine.connect() as conn:
            return [User(*row) for row in conn.execute(select(users).order_by(users.c.id))]

    # -- connections ---------------------------------------------------------------------------

    def connections(self, user_id: str | None = None) -> list[ConnectionRecord]:
        query = select(connections).order_by(connections.c.user_id, connections.c.integration)
        if user_id is not None:
            query = query.where(connections.c.user_id == user_id)
        with self.engine.connect() as conn:
            return [ConnectionRecord(*row) for row in conn.execute(query)]

    def record_connection(self, *, user_id: str, integration: str, connection_id: str, status: str, kind: str,
                          source: str, dedupe_key: str | None = None, error: str | None = None) -> ConnectionEvent | None:
        """Set a connection's status and append the event, atomically; a repeated dedupe_key is a no-op."""
        at = now()
        try:
            with self.engine.begin() as conn:
                result = conn.execute(insert(connection_events).values(
                    user_id=user_id, integration=integration, connection_id=connection_id, kind=kind, source=source,
                    dedupe_key=dedupe_key, created_at=at))
                changed = conn.execute(update(connections).where(
                    connections.c.connection_id == connection_id, connections.c.integration == integration
                ).values(user_id=user_id, status=status, last_error=error, updated_at=at)).rowcount
                if not changed:
                    conn.execute(insert(connections).values(
                        user_id=user_id, integration=integration, connection_id=connection_id, status=status,
                        last_error=error, created_at=at, updated_at=at))
        except IntegrityError:
            if dedupe_key is None:
                raise
            return None
        return ConnectionEvent(result.inserted_primary_key[0], user_id, integration, connection_id, kind, source, at)

    def events_after(self, last_id: int, limit: int = 500) -> list[ConnectionEvent]:
        query = (select(connection_events.c.id, connection_events.c.user_id, connection_events.c.integration,
                        connection_events.c.connection_id, connection_events.c.kind, connection_events.c.source,
                        connection_events.c.created_at)
                 .where(connection_events.c.id > last_id).order_by(connection_events.c.id).limit(limit))
        with self.engine.connect() as conn:
            return [ConnectionEvent(*row) for row in conn.execute(query)]


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL lets the API read while the pipeline writes; busy_timeout waits out short locks."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
