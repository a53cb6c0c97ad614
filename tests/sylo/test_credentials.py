"""API tokens and signing secrets in the app DB: hashed or encrypted at rest, revocable, rotatable."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from sylo.appdb import AppDB
from sylo.appdb.schema import api_tokens, signing_secrets
from sylo.appdb.store import MIGRATIONS, UnknownUser, UserExists, hash_token, now
from sylo.keyring import DecryptionFailed, Keyring, UnknownKey, generate_entry

K1, K2 = generate_entry("k1"), generate_entry("k2")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return request.getfixturevalue("postgres_database")


@pytest.fixture
def appdb(db_url):
    with AppDB(db_url) as db:
        db.migrate()
        db.create_user("u_1", email="one@example.com")
        db.create_user("u_2", email="two@example.com")
        yield db


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.from_entries([K1])


def test_a_token_finds_its_user_until_revoked(appdb):
    info, token = appdb.issue_token("u_1", label="claude")
    assert token.startswith("sylo_") and len(token) >= 45 and info.id.startswith("tok_")
    assert appdb.user_for_token(token) == "u_1"
    assert appdb.user_for_token(token + "x") is None and appdb.user_for_token("not-a-token") is None
    assert appdb.tokens("u_1") == [info] and appdb.tokens("u_2") == []
    assert not appdb.revoke_token(info.id, user_id="u_2")  # someone else's token
    assert appdb.revoke_token(info.id, user_id="u_1")
    assert appdb.user_for_token(token) is None
    assert not appdb.revoke_token(info.id)
    assert appdb.tokens("u_1")[0].revoked_at is not None


def test_only_the_token_hash_is_stored(appdb):
    _, token = appdb.issue_token("u_1")
    with appdb.engine.connect() as conn:
        stored = conn.execute(sa.select(api_tokens)).one()._mapping
    assert stored["token_hash"] == hash_token(token) and token not in {str(v) for v in stored.values()}


def test_unknown_users_get_no_credentials(appdb, keyring):
    with pytest.raises(UnknownUser, match="no user with id 'ghost'"):
        appdb.issue_token("ghost")
    with pytest.raises(UnknownUser):
        appdb.add_signing_secret("ghost", keyring)
    with pytest.raises(UnknownUser):
        appdb.rotate_signing_secret("ghost", keyring, timedelta(hours=1))


def test_signing_secrets_are_standard_webhooks_keys(appdb, keyring):
    info, secret = appdb.add_signing_secret("u_1", keyring)
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:], validate=True)) == 32
    assert (info.id[:4], info.key_id) == ("sec_", "k1")
    assert appdb.signing_secrets("u_1", keyring) == [secret] and appdb.signing_secrets("u_2", keyring) == []


def test_rotation_keeps_the_old_secret_for_the_grace_period(appdb, keyring):
    _, old = appdb.add_signing_secret("u_1", keyring)
    info, new = appdb.rotate_signing_secret("u_1", keyring, timedelta(hours=2))
    assert appdb.signing_secrets("u_1", keyring) == [new, old]
    assert appdb.signing_secrets("u_1", keyring, at=now() + timedelta(hours=3)) == [new]
    [latest, previous] = appdb.signing_secret_infos("u_1")
    assert latest == info and previous.expires_at is not None and latest.expires_at is None
    appdb.rotate_signing_secret("u_1", keyring, timedelta(0))
    assert new not in appdb.signing_secrets("u_1", keyring)
    assert appdb.revoke_signing_secret(appdb.signing_secret_infos("u_1")[0].id, user_id="u_1")
    assert appdb.signing_secrets("u_1", keyring) == []


def test_a_ciphertext_moved_to_another_row_does_not_decrypt(appdb, keyring):
    first, _ = appdb.add_signing_secret("u_1", keyring)
    second, _ = appdb.add_signing_secret("u_2", keyring)
    with appdb.engine.begin() as conn:
        stolen = conn.execute(sa.select(signing_secrets.c.ciphertext).where(signing_secrets.c.id == first.id)).scalar()
        conn.execute(sa.update(signing_secrets).where(signing_secrets.c.id == second.id).values(ciphertext=stolen))
    with pytest.raises(DecryptionFailed):
        appdb.signing_secrets("u_2", keyring)


def test_reencrypt_moves_every_secret_to_the_newest_key(appdb, keyring):
    secrets = {appdb.add_signing_secret(user, keyring)[1] for user in ("u_1", "u_2", "u_1", "u_2", "u_1")}
    appdb.revoke_signing_secret(appdb.signing_secret_infos("u_2")[0].id)  # revoked rows move too
    rotated = Keyring.from_entries([K2, K1])
    assert appdb.reencrypt(rotated, batch_size=2) == 5
    assert appdb.reencrypt(rotated) == 0
    with appdb.engine.connect() as conn:
        assert set(conn.execute(sa.select(signing_secrets.c.key_id)).scalars()) == {"k2"}
    only_new = Keyring.from_entries([K2])
    live = appdb.signing_secrets("u_1", only_new) + appdb.signing_secrets("u_2", only_new)
    assert len(live) == 4 and set(live) <= secrets
    with pytest.raises(UnknownKey, match="encrypted under key 'k2' which is not in SYLO_ENCRYPTION_KEYS"):
        appdb.signing_secrets("u_1", keyring)


def test_a_user_is_created_with_credentials_or_not_at_all(appdb, keyring):
    made = appdb.create_user_with_credentials("u_3", "three@example.com", keyring, display_name="Three")
    assert appdb.user_for_token(made.api_token) == "u_3"
    assert appdb.signing_secrets("u_3", keyring) == [made.signing_secret]
    assert made.api_token not in repr(made) and made.signing_secret not in repr(made)
    with pytest.raises(UserExists):
        appdb.create_user_with_credentials("u_4", "three@example.com", keyring)
    assert appdb.get_user("u_4") is None and appdb.tokens("u_4") == []
    with appdb.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(signing_secrets)).scalar() == 1


def test_the_sqlite_file_holds_neither_token_nor_secret_in_clear(tmp_path, keyring):
    path = tmp_path / "app.db"
    with AppDB(f"sqlite:///{path}") as db:
        db.migrate()
        made = db.create_user_with_credentials("u_1", "one@example.com", keyring)
        _, token = db.issue_token("u_1")
        _, secret = db.rotate_signing_secret("u_1", keyring, timedelta(hours=1))
        files = [p for p in (path, tmp_path / "app.db-wal") if p.exists()]
        stored = b"".join(p.read_bytes() for p in files)
        assert stored.count(b"sec_") >= 2  # the rows really are in these bytes
    for clear in (made.api_token, token, made.signing_secret, secret):
        assert clear.encode() not in stored
        assert clear.split("_", 1)[1].encode() not in stored
    for raw in (made.signing_secret, secret):
        assert base64.b64decode(raw[6:]) not in stored


def _alembic(db: AppDB, action, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        action(config, revision)


def test_a_database_at_0001_is_upgraded_in_place_and_can_go_back(db_url, keyring):
    with AppDB(db_url) as db:
        _alembic(db, command.upgrade, "0001")
        db.create_user("u_old", email="old@example.com")
        assert "api_tokens" not in sa.inspect(db.engine).get_table_names()
        db.migrate()
        assert db.get_user("u_old").email == "old@example.com"
        _, token = db.issue_token("u_old")
        _, secret = db.add_signing_secret("u_old", keyring)
        assert db.user_for_token(token) == "u_old" and db.signing_secrets("u_old", keyring) == [secret]
        _alembic(db, command.downgrade, "0001")
        tables = set(sa.inspect(db.engine).get_table_names())
        assert {"api_tokens", "signing_secrets"}.isdisjoint(tables) and db.get_user("u_old") is not None
