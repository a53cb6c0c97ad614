"""A real export for two users, a real app DB with their tokens, and the API over it.

The export is compiled once per session from a generated world (populate → models → publish),
the same path the pipeline takes, so the API serves genuine documents.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import SecretStr
from werkzeug.serving import make_server

from api import create_app
from pipelines.sync.snapshot import populate
from pipelines.documents.export import Exporter
from pipelines.models import ModelRunner
from pipelines.documents.publish import PublishSettings, publish
from pipelines.warehouse import open_warehouse
from sandbox.world import World
from sylo.appdb import AppDB
from sylo.export_layout import ExportLayout
from sylo.settings import Settings

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
NANGO_WEBHOOK_KEYS = ("whk-newest-0b6f", "whk-previous-91c2")  # newest first, as after a rotation
N8N_SIGNING_SECRET = "whsec_" + "bjhuLXJlc3VsdHMtc2lnbmluZy1zZWNyZXQtMDEyMzQ1"  # n8n's results are signed with it


@dataclass
class Deployment:
    settings: Settings
    appdb: AppDB
    users: list[str]
    tokens: dict[str, str]

    def headers(self, user_id: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user_id]}", **extra}


@pytest.fixture(scope="session")
def deployment(tmp_path_factory) -> Deployment:
    root = tmp_path_factory.mktemp("api")
    world = World(5, NOW, 1.0)
    user_ids = world.initial_user_ids(3)
    exported = user_ids[:2]  # the third user exists but has nothing exported yet
    warehouse = open_warehouse(f"duckdb:///{root / 'warehouse.duckdb'}", root)
    warehouse.ensure_schema()
    populate(warehouse, world, exported, NOW - timedelta(minutes=5))
    ModelRunner(warehouse).run(exported, NOW)
    publish(warehouse, Exporter(ExportLayout(root / "exports")), exported, as_of=NOW,
            settings=PublishSettings("http://testserver"))
    warehouse.close()
    settings = Settings(data_dir=root, _env_file=None, nango_webhook_keys=[SecretStr(k) for k in NANGO_WEBHOOK_KEYS],
                        n8n_signing_secret=SecretStr(N8N_SIGNING_SECRET))
    appdb = AppDB.from_settings(settings)
    appdb.migrate()
    tokens = {}
    for user_id in user_ids:
        appdb.create_user(user_id, f"{user_id}@studio.example")
        tokens[user_id] = appdb.issue_token(user_id)[1]
    return Deployment(settings, appdb, user_ids, tokens)


@pytest.fixture(scope="session")
def app(deployment):
    return create_app(deployment.settings, deployment.appdb)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def live_url(app) -> str:
    """The app on a real socket, for clients that need one (the MCP SDK, schemathesis)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
