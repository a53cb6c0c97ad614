"""Reconciling the app DB with Nango: every difference becomes one event, unknown users are ignored."""

from __future__ import annotations

from sylo.nango.reconcile import reconcile_connections
from sylo.nango.client import NangoClient
from sylo.appdb import AppDB


def test_reconcile_records_connects_breaks_repairs_and_disconnects(sandbox, tmp_path):
    appdb = AppDB(f"sqlite:///{tmp_path / 'app.db'}")
    appdb.migrate()
    known, stranger = sandbox.user_ids()
    appdb.create_user(known)
    nango = NangoClient(sandbox.url, sandbox.secret_key)

    assert sorted(e.integration for e in reconcile_connections(appdb, nango)) == ["asana", "google-mail", "xero"]
    assert reconcile_connections(appdb, nango) == []  # nothing changed
    assert all(c.user_id == known for c in appdb.connections())  # the stranger's connections are not ours

    asana = sandbox.connection(known, "asana")
    sandbox.admin.post(f"/connections/{asana}/break")
    assert [(e.integration, e.kind) for e in reconcile_connections(appdb, nango)] == [("asana", "needs_reauth")]
    sandbox.nango.delete(f"/connections/{asana}", params={"provider_config_key": "asana"})
    assert [(e.integration, e.kind) for e in reconcile_connections(appdb, nango)] == [("asana", "disconnected")]
    assert {c.integration: c.status for c in appdb.connections(known)}["asana"] == "disconnected"
    nango.close()
    appdb.close()
    assert stranger
