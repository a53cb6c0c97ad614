"""The app DB: migrations upgrade in place; connection events are atomic and deduplicated."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sylo.appdb import AppDB
from sylo.appdb.store import UserExists


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def appdb(request, tmp_path):
    if request.param == "sqlite":
        db = AppDB(f"sqlite:///{tmp_path / 'app.db'}")
    else:
        db = AppDB(request.getfixturevalue("postgres_database"))
    db.migrate()
    yield db
    db.close()


def test_migrations_create_the_schema_and_are_idempotent(appdb):
    appdb.migrate()  # a second upgrade is a no-op
    tables = set(sa.inspect(appdb.engine).get_table_names())
    assert {"users", "connections", "connection_events", "alembic_version"} <= tables


def test_users_are_unique(appdb):
    appdb.create_user("u_1", email="a@example.com")
    with pytest.raises(UserExists):
        appdb.create_user("u_1")
    with pytest.raises(UserExists):
        appdb.create_user("u_2", email="a@example.com")
    assert appdb.ensure_user("u_1").email == "a@example.com"


def test_a_connection_event_updates_status_and_is_recorded_once(appdb):
    appdb.create_user("u_1")
    first = appdb.record_connection(user_id="u_1", integration="asana", connection_id="c1", status="connected",
                                    kind="connected", source="webhook", dedupe_key="auth:creation:c1")
    again = appdb.record_connection(user_id="u_1", integration="asana", connection_id="c1", status="connected",
                                    kind="connected", source="webhook", dedupe_key="auth:creation:c1")
    assert first is not None and again is None
    appdb.record_connection(user_id="u_1", integration="asana", connection_id="c1", status="needs_reauth",
                            kind="needs_reauth", source="webhook", error="invalid_grant")
    [connection] = appdb.connections("u_1")
    assert (connection.status, connection.last_error) == ("needs_reauth", "invalid_grant")
    assert [e.kind for e in appdb.events_after(0)] == ["connected", "needs_reauth"]
    assert appdb.events_after(first.id) == appdb.events_after(0)[1:]


def test_an_old_database_is_upgraded_in_place(tmp_path):
    """A database stamped at an older revision keeps its rows through `migrate`."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    db = AppDB(url)
    db.migrate()
    db.create_user("u_keep", email="keep@example.com")
    db.close()
    reopened = AppDB(url)
    reopened.migrate()
    assert reopened.get_user("u_keep").email == "keep@example.com"
    reopened.close()


def test_a_connection_keeps_its_owner(appdb):
    for user_id in ("u_owner", "u_other"):
        appdb.create_user(user_id)
    appdb.record_connection(user_id="u_owner", integration="asana", connection_id="c1", status="connected",
                            kind="connected", source="webhook")
    assert appdb.connection_owner("c1", "asana") == "u_owner"
    moved = appdb.record_connection(user_id="u_other", integration="asana", connection_id="c1", status="connected",
                                    kind="connected", source="reconcile")
    assert moved is None
    assert [(c.user_id, c.status) for c in appdb.connections()] == [("u_owner", "connected")]
    assert [e.user_id for e in appdb.events_after(0)] == ["u_owner"]
    assert appdb.connection_owner("c2", "asana") is None
