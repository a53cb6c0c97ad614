"""`POST /webhooks/nango`: signed by any configured key or refused, read, recorded once.

Bodies are encoded and signed by the sandbox's own sender code (`sandbox.webhooks`), the same
bytes and headers Nango sends (reference/nango.md §5).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import SecretStr

from api import create_app
from sandbox.webhooks import encode, sign
from sylo.appdb import AppDB
from sylo.commands.outbox import Outbox
from sylo.settings import Settings
from tests.api.conftest import NANGO_WEBHOOK_KEYS

NEWEST, PREVIOUS = NANGO_WEBHOOK_KEYS
URL = "/webhooks/nango"
REVOKED = {"type": "refresh_token_external_error", "description": "invalid_grant: Token has been expired or revoked."}


def build(tmp_path, app_db_url: str | None = None, keys=NANGO_WEBHOOK_KEYS):
    settings = Settings(_env_file=None, data_dir=tmp_path, app_db_url=app_db_url,
                        nango_webhook_keys=[SecretStr(key) for key in keys])
    appdb = AppDB.from_settings(settings)
    return create_app(settings, appdb).test_client(), appdb


@pytest.fixture
def hooks(tmp_path):
    client, appdb = build(tmp_path)
    yield client, appdb
    appdb.close()


def auth(operation: str = "creation", success: bool = True, user: str | None = "u_hook",
         connection: str = "conn-1", integration: str = "asana", **extra) -> dict:
    """An auth webhook shaped like the sandbox's (and Nango's)."""
    payload = {"type": "auth", "from": "nango", "operation": operation, "success": success,
               "connectionId": connection, "providerConfigKey": integration, "provider": integration,
               "authMode": "OAUTH2", "environment": "dev", "tags": {"end_user_id": user} if user else {}}
    return {**payload, **extra}


def deliver(client, payload: dict | None = None, *, key: str = NEWEST, body: bytes | None = None, headers=None):
    body = encode(payload) if body is None else body
    headers = {"Content-Type": "application/json", **sign(body, key)} if headers is None else headers
    return client.post(URL, data=body, headers=headers)


def history(appdb) -> list[tuple[str, str]]:
    return [(event.kind, event.source) for event in appdb.events_after(0)]


@pytest.mark.parametrize("key", [NEWEST, PREVIOUS], ids=["newest key", "rotated-out key"])
def test_a_creation_signed_by_any_configured_key_connects_the_user(hooks, key):
    client, appdb = hooks
    response = deliver(client, auth(), key=key)
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "recorded"
    [event] = appdb.events_after(0)
    assert response.get_json()["event_id"] == event.id
    assert (event.user_id, event.integration, event.connection_id, event.kind, event.source) == (
        "u_hook", "asana", "conn-1", "connected", "webhook")
    [connection] = appdb.connections("u_hook")
    assert (connection.status, connection.last_error) == ("connected", None)
    assert appdb.get_user("u_hook") is not None, "the first connection creates the user"


def tampered(body: bytes) -> dict:
    return {"Content-Type": "application/json", **sign(body.replace(b"creation", b"override"), NEWEST)}


@pytest.mark.parametrize("headers", [
    lambda body: sign(body, "not-a-configured-key"),
    lambda body: {},
    lambda body: {"X-Nango-Signature": sign(body, NEWEST)["X-Nango-Signature"]},  # the legacy header alone
    lambda body: {"X-Nango-Hmac-Sha256": sign(body, NEWEST)["X-Nango-Hmac-Sha256"][:-1]},
    lambda body: {"X-Nango-Hmac-Sha256": "ü" * 64},
    tampered,
], ids=["wrong key", "no header", "legacy header only", "truncated", "non-ascii", "tampered body"])
def test_a_bad_signature_is_refused_the_same_way_and_records_nothing(hooks, headers):
    client, appdb = hooks
    body = encode(auth())
    response = deliver(client, body=body, headers=headers(body))
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["type"] == "urn:sylo:problem:invalid-signature"
    assert problem["detail"] == ("Nango webhooks must carry X-Nango-Hmac-Sha256, the hex HMAC-SHA256 of the raw body "
                                 "under a key in SYLO_NANGO_WEBHOOK_KEYS.")
    assert "WWW-Authenticate" in response.headers
    assert history(appdb) == [] and appdb.get_user("u_hook") is None


def test_unsigned_garbage_is_refused_before_it_is_parsed(hooks):
    client, _ = hooks
    response = deliver(client, body=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 401


@pytest.mark.parametrize(("body", "slug"), [
    (b"{not json", "invalid-json"),
    (b"\xff\xfe", "invalid-json"),
    (encode([auth()]), "invalid-webhook"),  # type: ignore[arg-type]
    (encode({k: v for k, v in auth().items() if k != "connectionId"}), "invalid-webhook"),
    (encode(auth(success="yes")), "invalid-webhook"),  # type: ignore[arg-type]
    (encode(auth(connection="c" * 256)), "invalid-webhook"),
], ids=["not json", "not utf-8", "a list", "no connectionId", "success not a boolean", "connectionId too long"])
def test_signed_bodies_that_are_not_webhooks_are_400(hooks, body, slug):
    client, appdb = hooks
    response = deliver(client, body=body)
    assert response.status_code == 400
    assert response.get_json()["type"] == f"urn:sylo:problem:{slug}"
    assert history(appdb) == []


def test_a_redelivery_records_one_event(hooks):
    client, appdb = hooks
    body = encode(auth())
    outcomes = [deliver(client, body=body).get_json()["outcome"] for _ in range(3)]
    assert outcomes == ["recorded", "unchanged", "unchanged"]
    assert history(appdb) == [("connected", "webhook")]


@pytest.mark.postgres
def test_concurrent_copies_of_one_delivery_record_one_event(tmp_path, postgres_database):
    """Primary and secondary URLs, or a retry racing a slow answer: the dedupe key settles it."""
    client, appdb = build(tmp_path, postgres_database)
    body = encode(auth())
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: deliver(client, body=body), range(8)))
    assert {r.status_code for r in responses} == {200}
    outcomes = sorted(r.get_json()["outcome"] for r in responses)
    assert outcomes.count("recorded") == 1 and set(outcomes) <= {"recorded", "unchanged", "duplicate"}
    assert history(appdb) == [("connected", "webhook")]
    appdb.close()


def test_a_failed_refresh_marks_the_connection_with_nangos_reason(hooks):
    client, appdb = hooks
    deliver(client, auth())
    response = deliver(client, auth("refresh", success=False, error=REVOKED))
    assert response.get_json()["outcome"] == "recorded"
    [connection] = appdb.connections("u_hook")
    assert (connection.status, connection.last_error) == ("needs_reauth", REVOKED["description"])
    assert history(appdb) == [("connected", "webhook"), ("needs_reauth", "webhook")]


def test_an_override_reconnects_and_clears_the_reason(hooks):
    client, appdb = hooks
    deliver(client, auth())
    deliver(client, auth("refresh", success=False, error=REVOKED))
    assert deliver(client, auth("override")).get_json()["outcome"] == "recorded"
    [connection] = appdb.connections("u_hook")
    assert (connection.status, connection.last_error) == ("connected", None)
    assert [kind for kind, _ in history(appdb)] == ["connected", "needs_reauth", "reconnected"]


def test_an_override_of_a_connection_never_seen_is_a_reconnection(hooks):
    client, appdb = hooks
    deliver(client, auth("override"))
    assert history(appdb) == [("reconnected", "webhook")]


def test_the_same_failure_after_a_repair_is_a_new_event(hooks):
    """Identical bodies are not duplicates when the connection changed in between."""
    client, appdb = hooks
    broken = encode(auth("refresh", success=False, error=REVOKED))
    deliver(client, auth())
    deliver(client, body=broken)
    deliver(client, auth("override"))
    assert deliver(client, body=broken).get_json()["outcome"] == "recorded"
    assert [kind for kind, _ in history(appdb)] == ["connected", "needs_reauth", "reconnected", "needs_reauth"]


def test_a_deletion_disconnects_and_says_why(hooks):
    client, appdb = hooks
    deliver(client, auth(integration="xero"))
    deliver(client, auth("deletion", integration="xero"))
    [connection] = appdb.connections("u_hook")
    assert connection.status == "disconnected"
    assert "deleted in Nango" in connection.last_error
    assert [kind for kind, _ in history(appdb)] == ["connected", "disconnected"]


def test_the_legacy_end_user_names_the_user_when_tags_do_not(hooks):
    client, appdb = hooks
    deliver(client, auth(user=None, endUser={"endUserId": "u_legacy", "endUserEmail": None, "tags": {}}))
    assert [c.user_id for c in appdb.connections()] == ["u_legacy"]


@pytest.mark.parametrize("payload", [
    {"type": "sync", "from": "nango", "connectionId": "conn-1", "providerConfigKey": "asana", "syncName": "tasks",
     "model": "Task", "success": True, "responseResults": {"added": 1, "updated": 0, "deleted": 0}},
    {"type": "forward", "from": "asana", "connectionId": "conn-1", "providerConfigKey": "asana", "payload": {"e": 1}},
    {"events": [{"action": "changed"}]},  # an unattributed forward: the provider's raw body
    auth("creation", success=True, user=None),  # no end_user_id: not a Sylo connection
    auth("creation", success=True, user="../../etc"),  # not a valid Sylo user id
    auth("refresh", success=False, user="u_stranger", error=REVOKED),  # a user Sylo does not know
    auth("rename"),  # an operation Sylo does not track
], ids=["sync", "forward", "unattributed forward", "no end user", "bad user id", "unknown user", "unknown operation"])
def test_webhooks_sylo_does_not_use_are_acknowledged_and_ignored(hooks, payload):
    client, appdb = hooks
    response = deliver(client, payload)
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "ignored" and response.get_json()["reason"]
    assert history(appdb) == [] and appdb.list_users() == []


def test_without_keys_webhooks_are_503_and_say_which_setting(tmp_path):
    client, appdb = build(tmp_path, keys=())
    response = deliver(client, auth())
    assert response.status_code == 503
    assert "SYLO_NANGO_WEBHOOK_KEYS" in response.get_json()["detail"]
    assert history(appdb) == []
    appdb.close()


def test_an_oversized_body_is_413(hooks):
    client, appdb = hooks
    response = deliver(client, auth(padding="x" * 300_000))
    assert response.status_code == 413
    assert response.get_json()["type"] == "urn:sylo:problem:payload-too-large"
    assert history(appdb) == []


@pytest.mark.parametrize("operation", ["creation", "override", "refresh", "deletion"])
def test_a_webhook_never_moves_a_connection_to_another_user(hooks, operation):
    client, appdb = hooks
    deliver(client, auth(user="u_owner"))
    extra = {"success": False, "error": REVOKED} if operation == "refresh" else {}
    response = deliver(client, auth(operation, user="u_other", **extra))
    assert response.status_code == 409
    problem = response.get_json()
    assert problem["type"] == "urn:sylo:problem:connection-owner-mismatch"
    assert "u_other" in problem["detail"]
    assert [(c.user_id, c.status) for c in appdb.connections()] == [("u_owner", "connected")]
    assert appdb.get_user("u_other") is None and history(appdb) == [("connected", "webhook")]
    [entry] = Outbox(appdb.engine).audit_entries("u_owner")
    assert (entry.kind, entry.outcome, entry.source) == ("connection.refused", "refused", "nango")
    assert "u_other" in entry.detail and "conn-1" in entry.detail


def test_the_owner_keeps_receiving_changes_to_their_connection(hooks):
    client, appdb = hooks
    deliver(client, auth(user="u_owner"))
    deliver(client, auth(user="u_other"))
    assert deliver(client, auth("refresh", success=False, user="u_owner", error=REVOKED)).status_code == 200
    [connection] = appdb.connections()
    assert (connection.user_id, connection.status) == ("u_owner", "needs_reauth")


@pytest.mark.parametrize("body", [b"[" * 30_000 + b"]" * 30_000, b'{"type": "sync", "x": "\\ud800"}'],
                         ids=["nested 30,000 deep", "lone surrogate"])
def test_signed_json_no_route_can_take_is_400(hooks, body):
    client, appdb = hooks
    response = deliver(client, body=body)
    assert response.status_code == 400 and response.get_json()["type"] == "urn:sylo:problem:invalid-json"
    assert history(appdb) == []

