"""The OAuth store on SQLite and Postgres: a code and a refresh token are spent once, even concurrently;
revoking a grant ends its tokens; an access token is good for its resource only; rules for URIs."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from sylo.appdb import AppDB
from sylo.appdb.schema import audit_log
from sylo.clock import utc_now
from sylo.oauth import uris
from sylo.oauth.store import OAuthStore

RESOURCE = "https://sylo.example/mcp"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "sqlite":
        db = AppDB(f"sqlite:///{tmp_path / 'app.db'}")
    else:
        db = AppDB(request.getfixturevalue("postgres_database"))
    db.migrate()
    db.create_user("u_1", "u1@studio.example")
    yield OAuthStore(db.engine, timedelta(minutes=60), timedelta(days=30))
    db.close()


def granted(store: OAuthStore, code: str = "code-1"):
    client, _ = store.register_client({"client_name": "Agent", "redirect_uris": ["http://127.0.0.1/cb"],
                                       "grant_types": ["authorization_code", "refresh_token"],
                                       "token_endpoint_auth_method": "none"}, confidential=False)
    store.save_code(code, client_id=client.client_id, user_id="u_1", redirect_uri="http://127.0.0.1/cb",
                    scope="context:read commands:write", resource=RESOURCE, code_challenge="c" * 43)
    return client, store.code(code, client.client_id)


def test_a_code_is_spent_once_even_by_concurrent_exchanges(store):
    client, record = granted(store)
    results, start = [], threading.Barrier(4)

    def exchange():
        start.wait()
        results.append(store.exchange_code("code-1", record, "Agent"))

    threads = [threading.Thread(target=exchange) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    issued = [r for r in results if r is not None]
    assert len(issued) == 1
    assert store.access(issued[0].access_token, RESOURCE).grant.user_id == "u_1"
    assert len(store.grants("u_1")) == 1
    assert store.code("code-1", client.client_id).used_at is not None
    assert store.code("code-1", "dcr_other") is None  # a code is only its own client's


def test_a_refresh_token_rotates_once_and_revoking_ends_everything(store):
    _, record = granted(store)
    first = store.exchange_code("code-1", record, "Agent")
    old = store.token(first.refresh_token)
    results, start = [], threading.Barrier(3)

    def rotate():
        start.wait()
        results.append(store.rotate(old, old.scope))

    threads = [threading.Thread(target=rotate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [fresh] = [r for r in results if r is not None]
    assert store.access(fresh.access_token, RESOURCE) is not None
    assert store.revoke_grant(old.grant.id, by="owner", user_id="u_1")
    assert not store.revoke_grant(old.grant.id, by="owner")
    for token in (first.access_token, fresh.access_token):
        assert store.access(token, RESOURCE) is None
    assert not store.token(fresh.refresh_token).usable(utc_now())
    with store.engine.connect() as conn:
        kinds = conn.execute(sa.select(audit_log.c.kind).where(audit_log.c.user_id == "u_1")
                             .order_by(audit_log.c.id)).scalars().all()
    assert kinds == ["oauth.granted", "oauth.refreshed", "oauth.revoked"]


def test_an_access_token_is_good_for_its_resource_only(store):
    _, record = granted(store)
    issued = store.exchange_code("code-1", record, "Agent")
    assert store.access(issued.access_token, RESOURCE) is not None
    assert store.access(issued.access_token, "https://other.example/mcp") is None
    assert store.access(issued.refresh_token, RESOURCE) is None  # a refresh token is not an access token
    assert store.access("sylo_" + issued.access_token[7:], RESOURCE) is None


def test_a_users_grants_go_with_the_user(store):
    _, record = granted(store)
    store.exchange_code("code-1", record, "Agent")
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM users WHERE id = 'u_1'"))
    assert store.grants("u_1") == [] and not store.user_exists("u_1")


@pytest.mark.parametrize(("uri", "canonical"), [
    ("https://Sylo.Example/mcp/", "https://sylo.example/mcp"), ("HTTPS://sylo.example:443/mcp", "https://sylo.example/mcp"),
    ("http://127.0.0.1:8000/mcp", "http://127.0.0.1:8000/mcp"), ("http://[::1]:80/mcp", "http://[::1]/mcp"),
    ("https://sylo.example/mcp#x", None), ("sylo.example/mcp", None), ("ftp://sylo.example/mcp", None),
    ("https://sylo.example:99999/mcp", None)])
def test_resources_compare_in_canonical_form(uri, canonical):
    assert uris.canonical(uri) == canonical
