"""`sylo users` and `sylo keys`: credentials shown once, clear errors, key rotation end to end."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sylo.appdb import AppDB
from sylo.appdb.store import now
from cli import main
from sylo.export_layout import USER_ID
from sylo.keyring import Keyring, generate_entry

K1, K2 = generate_entry("k1"), generate_entry("k2")


class Sylo:
    """Runs `sylo` in process against an isolated data dir."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.env = {"SYLO_DATA_DIR": str(data_dir)}

    def __call__(self, *args: str, **env: str) -> Result:
        return CliRunner().invoke(main, list(args), env={**self.env, **env})

    def json(self, *args: str, **env: str) -> dict:
        result = self(*args, "--json", **env)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def appdb(self) -> AppDB:
        return AppDB(f"sqlite:///{self.data_dir / 'app.db'}")


@pytest.fixture
def sylo(tmp_path, monkeypatch) -> Sylo:
    for name in ("SYLO_APP_DB_URL", "SYLO_ENCRYPTION_KEYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return Sylo(tmp_path / ".sylo")


def test_create_prints_working_credentials_once(sylo):
    made = sylo.json("users", "create", "--email", "Ana.Ruiz@example.com", "--name", "Ana")
    assert set(made) == {"user_id", "email", "api_token", "token_id", "signing_secret", "secret_id"}
    assert USER_ID.fullmatch(made["user_id"]) and made["user_id"].startswith("ana-ruiz-")
    assert made["api_token"].startswith("sylo_") and made["signing_secret"].startswith("whsec_")
    keyring = Keyring.from_file(sylo.data_dir / "encryption.key")
    with sylo.appdb() as db:
        assert db.user_for_token(made["api_token"]) == made["user_id"]
        assert db.signing_secrets(made["user_id"], keyring) == [made["signing_secret"]]
        assert db.get_user(made["user_id"]).display_name == "Ana"
    listed = sylo("users", "list")
    assert made["user_id"] in listed.stdout and made["api_token"] not in listed.output


def test_create_in_text_says_the_credentials_will_not_be_shown_again(sylo):
    result = sylo("users", "create", "--email", "bo@example.com", "--id", "bo")
    assert result.exit_code == 0, result.output
    token = re.search(r"sylo_\S+", result.stdout).group(0)
    secret = re.search(r"whsec_\S+", result.stdout).group(0)
    assert result.stdout.count(token) == result.stdout.count(secret) == 1
    assert "only this once" in result.stdout
    assert token not in result.stderr and secret not in result.stderr


@pytest.mark.parametrize("args", [["--id", "bo", "--email", "other@example.com"],
                                  ["--id", "bo2", "--email", "bo@example.com"]])
def test_an_existing_id_or_email_is_an_error_and_creates_nothing(sylo, args):
    assert sylo("users", "create", "--id", "bo", "--email", "bo@example.com").exit_code == 0
    result = sylo("users", "create", *args)
    assert result.exit_code == 1 and "already exists" in result.stderr
    with sylo.appdb() as db:
        assert [u.id for u in db.list_users()] == ["bo"] and len(db.tokens("bo")) == 1


@pytest.mark.parametrize("args,message", [(["--id", "-bad", "--email", "a@example.com"], "--id"),
                                          (["--email", "not-an-email"], "not an email address")])
def test_create_refuses_bad_input(sylo, args, message):
    result = sylo("users", "create", *args)
    assert result.exit_code == 2 and message in result.stderr


def test_tokens_are_issued_listed_and_revoked(sylo):
    sylo.json("users", "create", "--id", "bo", "--email", "bo@example.com")
    issued = sylo.json("users", "token", "bo", "--label", "claude")
    listed = sylo("users", "tokens", "bo")
    assert issued["token_id"] in listed.stdout and "claude" in listed.stdout and "live" in listed.stdout
    assert issued["api_token"] not in listed.output and not re.search(r"[0-9a-f]{64}", listed.output)
    revoked = sylo("users", "revoke-token", issued["token_id"])
    assert revoked.exit_code == 0 and issued["token_id"] in revoked.stdout
    with sylo.appdb() as db:
        assert db.user_for_token(issued["api_token"]) is None
    assert "revoked" in sylo("users", "tokens", "bo").stdout
    again = sylo("users", "revoke-token", issued["token_id"])
    assert again.exit_code == 1 and "no live API token" in again.stderr


@pytest.mark.parametrize("args", [["token", "ghost"], ["tokens", "ghost"], ["secret", "ghost"],
                                  ["secret", "ghost", "--rotate"]])
def test_unknown_users_are_a_clear_error(sylo, args):
    result = sylo("users", *args)
    assert result.exit_code == 1 and "no user with id 'ghost'" in result.stderr


def test_rotating_a_secret_keeps_the_old_one_for_the_grace(sylo):
    made = sylo.json("users", "create", "--id", "bo", "--email", "bo@example.com", SYLO_ENCRYPTION_KEYS=K1)
    rotated = sylo.json("users", "secret", "bo", "--rotate", "--grace-hours", "1", SYLO_ENCRYPTION_KEYS=K1)
    listed = sylo("users", "secret", "bo")
    assert "expires" in listed.stdout and made["signing_secret"] not in listed.output
    keyring = Keyring.from_entries([K1])
    with sylo.appdb() as db:
        assert db.signing_secrets("bo", keyring) == [rotated["signing_secret"], made["signing_secret"]]
        assert db.signing_secrets("bo", keyring, at=now() + timedelta(hours=2)) == [rotated["signing_secret"]]


def test_keys_rotate_end_to_end(sylo):
    made = sylo.json("users", "create", "--id", "bo", "--email", "bo@example.com", SYLO_ENCRYPTION_KEYS=K1)
    entry = sylo("keys", "generate", "--id", "k2")
    assert entry.exit_code == 0 and re.fullmatch(r"k2:[A-Za-z0-9+/]{43}=", entry.stdout.strip())
    moved = sylo("keys", "reencrypt", SYLO_ENCRYPTION_KEYS=f"{K2},{K1}")
    assert moved.exit_code == 0 and "Re-encrypted 1 secret" in moved.stdout and "'k1'" in moved.stdout
    with sylo.appdb() as db:
        assert db.signing_secrets("bo", Keyring.from_entries([K2])) == [made["signing_secret"]]
    assert "Re-encrypted 0" in sylo("keys", "reencrypt", SYLO_ENCRYPTION_KEYS=K2).stdout


def test_keys_reencrypt_names_a_missing_key(sylo):
    sylo.json("users", "create", "--id", "bo", "--email", "bo@example.com", SYLO_ENCRYPTION_KEYS=K1)
    result = sylo("keys", "reencrypt", SYLO_ENCRYPTION_KEYS=K2)
    assert result.exit_code == 1
    assert "encrypted under key 'k1' which is not in SYLO_ENCRYPTION_KEYS" in result.stderr


def test_bad_encryption_keys_fail_without_showing_them(sylo):
    short = "QUJDREVGR0hJSktMTU5PUA=="  # 16 bytes
    result = sylo("users", "create", "--email", "bo@example.com", SYLO_ENCRYPTION_KEYS=f"k1:{short}")
    assert result.exit_code == 1 and "entry 1 (key id 'k1')" in result.stderr and short not in result.output
    assert not (sylo.data_dir / "app.db").exists()  # the keyring is checked before anything is written


def test_keys_generate_refuses_a_bad_id(sylo):
    result = sylo("keys", "generate", "--id", "bad id")
    assert result.exit_code == 1 and "1-32 characters" in result.stderr
