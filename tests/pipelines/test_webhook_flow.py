"""Issue 6 end to end: a person connects through the Connect page, Nango's webhook reaches the API,
the sensor turns the event into a partition and a run, and that user's documents appear.

Everything is real except the outside world: the API on a socket, the sandbox's Nango signing and
delivering its webhooks over HTTP, the connections sensor, the sync job executed in process.
"""

from __future__ import annotations

import threading

import dagster as dg
import httpx
import pytest
from pydantic import SecretStr
from werkzeug.serving import make_server

from api import create_app
from assets.definitions import build_definitions
from sandbox.webhooks import encode, sign
from sylo.appdb import AppDB
from sylo.settings import Settings

WEBHOOK_KEY = "whk-e2e-4d1a"
USER = "u_webhook"
INTEGRATIONS = ("google-mail", "asana", "xero")


@pytest.fixture
def api(tmp_path):
    """The API on a real socket, verifying webhooks with WEBHOOK_KEY, over <tmp_path>/app.db."""
    settings = Settings(_env_file=None, data_dir=tmp_path, nango_webhook_keys=[SecretStr(WEBHOOK_KEY)])
    appdb = AppDB.from_settings(settings)
    server = make_server("127.0.0.1", 0, create_app(settings, appdb), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield settings, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    appdb.close()


def connect_through_the_page(sandbox, user_id: str) -> None:
    """What the studio owner does: open the connect link and approve each service."""
    session = sandbox.nango.post("/connect/sessions", json={"tags": {"end_user_id": user_id}}).json()["data"]
    page = httpx.get(session["connect_link"], timeout=10)
    assert page.status_code == 200 and all(integration in page.text for integration in INTEGRATIONS)
    for integration in INTEGRATIONS:
        done = sandbox.nango.post("/connect/complete", data={"session_token": session["token"],
                                                             "integration": integration})
        assert done.status_code == 200, done.text


def test_a_connection_made_on_the_connect_page_ends_in_that_users_documents(make_sandbox, api):
    settings, api_url = api
    sandbox = make_sandbox(users=0, scale=0.3, webhook_url=f"{api_url}/webhooks/nango", webhook_key=WEBHOOK_KEY)
    connect_through_the_page(sandbox, USER)

    deliveries = sandbox.admin.get("/webhooks", params={"flush": "true"}).json()["deliveries"]
    assert [(d["payload"]["operation"], d["attempts"]) for d in deliveries] == [("creation", [{"status": 200}])] * 3

    defs = build_definitions(settings.model_copy(update={"nango_url": sandbox.url,
                                                         "nango_secret_key": SecretStr(sandbox.secret_key)}))
    runtime = defs.resources["pipeline"]
    try:
        events = runtime.appdb.events_after(0)
        assert {(e.user_id, e.integration, e.kind, e.source) for e in events} == {
            (USER, integration, "connected", "webhook") for integration in INTEGRATIONS}

        # A temporary instance that is current while definitions resolve (an ephemeral one left
        # Dagster resolving a stale instance from an earlier test).
        with dg.instance_for_test() as instance:
            tick = dg.build_sensor_context(instance=instance, resources={"pipeline": runtime})
            result = defs.resolve_sensor_def("connections_sensor")(tick)
            assert result.dynamic_partitions_requests[0].partition_keys == [USER]
            [request] = result.run_requests
            assert (request.partition_key, request.run_key) == (USER, f"connection-event:{events[-1].id}")
            assert runtime.appdb.events_after(events[-1].id) == [], "reconciliation found nothing the webhooks missed"

            instance.add_dynamic_partitions("users", [USER])
            run = defs.resolve_job_def("sync_user").execute_in_process(partition_key=USER, instance=instance,
                                                                       tags=request.tags)
            assert run.success
            briefing = runtime.exporter.layout.context(USER, "all", "md")
            assert briefing.exists() and briefing.read_text().startswith("# Studio briefing")

            # The user reads them through the API with a token of their own.
            token = runtime.appdb.issue_token(USER)[1]
            served = httpx.get(f"{api_url}/v1/context/all.md", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert served.status_code == 200 and served.content == briefing.read_bytes()

            # A redelivered webhook records nothing, so the next tick requests nothing...
            body = encode(deliveries[0]["payload"])
            again = httpx.post(f"{api_url}/webhooks/nango", content=body, timeout=10,
                               headers={"Content-Type": "application/json", **sign(body, WEBHOOK_KEY)})
            assert again.json()["outcome"] == "unchanged"
            later = defs.resolve_sensor_def("connections_sensor")(
                dg.build_sensor_context(instance=instance, cursor=result.cursor, resources={"pipeline": runtime}))
            assert isinstance(later, dg.SkipReason)
            # ...and a tick that lost its cursor asks again under the same run key, which Dagster runs once.
            replayed = defs.resolve_sensor_def("connections_sensor")(
                dg.build_sensor_context(instance=instance, resources={"pipeline": runtime}))
            assert [r.run_key for r in replayed.run_requests] == [request.run_key]
            assert replayed.dynamic_partitions_requests == []
    finally:
        runtime.close()
