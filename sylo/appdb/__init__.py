"""The app DB: users, their service connections and the events the pipeline reacts to.

SQLAlchemy Core on SQLite (`<data_dir>/app.db`) or Postgres (`SYLO_APP_DB_URL`). The schema is
owned by Alembic migrations (`migrations/versions/`), applied in place by `AppDB.migrate()`.
"""

from sylo.appdb.store import AppDB, ConnectionEvent, User

__all__ = ["AppDB", "ConnectionEvent", "User"]
