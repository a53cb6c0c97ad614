"""The Nango client against the sandbox: every failure arrives as the right typed exception."""

from __future__ import annotations

import pytest

from sylo.nango.client import (
    ConnectionNotFound,
    CredentialsError,
    NangoAuthError,
    NangoClient,
    NangoRateLimited,
    ProviderError,
    ProviderRateLimited,
    ProviderServerError,
    TransportError,
    UpstreamUnreachable,
)


@pytest.fixture
def client(sandbox):
    client = NangoClient(sandbox.url, sandbox.secret_key, timeout=5)
    yield client
    client.close()


def gmail(client, sandbox, path="gmail/v1/users/me/profile"):
    user = sandbox.user_ids()[0]
    return client.proxy("GET", path, connection_id=sandbox.connection(user, "google-mail"), integration="google-mail")


def test_a_wrong_key_is_an_auth_error(sandbox):
    bad = NangoClient(sandbox.url, "8f2c8a0e-2c7a-4b8e-9d1f-3a4b5c6d7e8f")
    with pytest.raises(NangoAuthError, match="SYLO_NANGO_SECRET_KEY"):
        bad.list_connections()


def test_connections_are_listed_by_tag_across_pages(client, sandbox):
    everyone = client.list_connections(page_size=2)
    assert len(everyone) == 6  # two users, three integrations each
    user = sandbox.user_ids()[0]
    mine = client.list_connections(tags={"end_user_id": user}, page_size=2)
    assert {c.integration for c in mine} == {"google-mail", "asana", "xero"}
    assert all(c.end_user_id == user for c in mine)


def test_connect_session_and_connection_lifecycle(client, sandbox):
    session = client.create_connect_session({"end_user_id": "u_new"}, ["asana"])
    assert session["connect_link"].endswith(session["token"])
    sandbox.nango.post("/connect/complete", data={"session_token": session["token"], "integration": "asana"},
                       headers={"Accept": "application/json"})
    [connection] = client.list_connections(tags={"end_user_id": "u_new"})
    assert client.get_connection(connection.connection_id, "asana")["tags"] == {"end_user_id": "u_new"}
    client.delete_connection(connection.connection_id, "asana")
    with pytest.raises(ConnectionNotFound):
        client.get_connection(connection.connection_id, "asana")
    with pytest.raises(ConnectionNotFound):
        client.delete_connection(connection.connection_id, "asana")


def test_unknown_connection_on_the_proxy(client):
    with pytest.raises(ConnectionNotFound):
        client.proxy("GET", "api/1.0/workspaces", connection_id="nope", integration="asana")


def test_revoked_credentials_ask_for_reconnection(client, sandbox):
    user = sandbox.user_ids()[0]
    sandbox.admin.post(f"/connections/{sandbox.connection(user, 'asana')}/break")
    with pytest.raises(CredentialsError, match="reconnect"):
        client.proxy("GET", "api/1.0/workspaces", connection_id=sandbox.connection(user, "asana"), integration="asana")


@pytest.mark.parametrize("kind,error", [("rate_limit", ProviderRateLimited), ("nango_rate_limit", NangoRateLimited),
                                        ("server_error", ProviderServerError), ("reset", TransportError)])
def test_faults_become_typed_errors(client, sandbox, kind, error):
    sandbox.admin.put("/faults", json={"scripted": [{"service": "gmail", "kind": kind, "times": 1}]})
    with pytest.raises(error):
        gmail(client, sandbox)
    assert gmail(client, sandbox).json()["emailAddress"]  # the next call is fine


def test_provider_messages_are_kept(client, sandbox):
    with pytest.raises(ProviderError, match="Requested entity was not found") as raised:
        gmail(client, sandbox, "gmail/v1/users/me/messages/0000000000000000")
    assert raised.value.status == 404 and not raised.value.retryable


def test_nango_upstream_timeout_is_retryable(make_sandbox):
    running = make_sandbox(users=1, faults={"scripted": [{"service": "xero", "kind": "timeout", "times": 1}],
                                            "timeout_seconds": 0.1})
    client = NangoClient(running.url, running.secret_key, timeout=5)
    user = running.user_ids()[0]
    with pytest.raises(UpstreamUnreachable) as raised:
        client.proxy("GET", "connections", connection_id=running.connection(user, "xero"), integration="xero")
    assert raised.value.retryable
