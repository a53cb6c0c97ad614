"""The keyring: AES-256-GCM round trips, tampering fails, keys rotate by id, bad keys fail clearly."""

from __future__ import annotations

import base64
import logging
import stat

import pytest

from sylo.keyring import DecryptionFailed, Keyring, KeyringError, UnknownKey, generate_entry, parse_entry
from sylo.settings import Settings

K1 = generate_entry("k1")
K2 = generate_entry("k2")
AAD = b"signing_secret:u_1:sec_1"


def test_round_trip_names_the_key_and_uses_a_fresh_nonce():
    keyring = Keyring.from_entries([K1])
    first, second = keyring.encrypt(b"whsec_hello", AAD), keyring.encrypt(b"whsec_hello", AAD)
    assert first.startswith("v1:k1:") and first != second
    assert keyring.key_id_of(first) == "k1" == keyring.current_key_id
    assert keyring.decrypt(first, AAD) == keyring.decrypt(second, AAD) == b"whsec_hello"
    assert b"whsec_hello" not in base64.urlsafe_b64decode(first.split(":")[2] + "==")


def test_tampered_ciphertext_and_wrong_aad_fail():
    keyring = Keyring.from_entries([K1])
    token = keyring.encrypt(b"secret", AAD)
    data = bytearray(base64.urlsafe_b64decode(token.split(":")[2] + "=="))
    data[-1] ^= 1
    tampered = "v1:k1:" + base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode()
    with pytest.raises(DecryptionFailed, match="failed authentication"):
        keyring.decrypt(tampered, AAD)
    with pytest.raises(DecryptionFailed):
        keyring.decrypt(token, b"signing_secret:u_2:sec_1")
    with pytest.raises(KeyringError, match="not a Sylo ciphertext"):
        keyring.decrypt("plain text", AAD)


def test_a_prepended_key_encrypts_while_the_old_one_still_decrypts():
    old = Keyring.from_entries([K1]).encrypt(b"before", AAD)
    rotated = Keyring.from_entries([K2, K1])
    assert rotated.current_key_id == "k2" and rotated.key_ids == ["k2", "k1"]
    assert rotated.decrypt(old, AAD) == b"before"
    assert rotated.key_id_of(rotated.encrypt(b"after", AAD)) == "k2"
    with pytest.raises(UnknownKey, match="encrypted under key 'k1' which is not in SYLO_ENCRYPTION_KEYS"):
        Keyring.from_entries([K2]).decrypt(old, AAD)


def test_settings_entries_are_read_newest_first(monkeypatch):
    monkeypatch.setenv("SYLO_ENCRYPTION_KEYS", f"{K2}, {K1}")
    keyring = Keyring.from_settings(Settings(_env_file=None))
    assert keyring.key_ids == ["k2", "k1"]
    assert "k2" in repr(keyring) and K2.split(":")[1] not in repr(keyring)


SECRET = base64.b64encode(b"S" * 32).decode()
SHORT = base64.b64encode(b"S" * 16).decode()


@pytest.mark.parametrize("entries,message", [
    ([f"k1:{SHORT}"], "entry 1 (key id 'k1') decodes to 16 bytes"),
    ([K1, f"k2:{SECRET[:-3]}!!!"], "entry 2 (key id 'k2') is not valid base64"),
    ([f"bad id:{SECRET}"], "entry 1 has an invalid key id"),
    ([f"{'x' * 33}:{SECRET}"], "entry 1 has an invalid key id"),
    ([SECRET], "entry 1 is not in the form <key id>:<base64"),
    ([f"k1:{SECRET}", f"k1:{SECRET}"], "entry 2: key id 'k1' is used twice"),
])
def test_bad_entries_fail_clearly_without_echoing_the_key(monkeypatch, entries, message):
    monkeypatch.setenv("SYLO_ENCRYPTION_KEYS", ",".join(entries))
    with pytest.raises(KeyringError) as caught:
        Keyring.from_settings(Settings(_env_file=None))
    text = str(caught.value)
    assert message in text and "SYLO_ENCRYPTION_KEYS" in text
    for material in (SECRET, SHORT, SECRET[:-3], SECRET[:12], SHORT[:12]):
        assert material not in text


def test_without_keys_a_private_key_file_is_created_once_and_reused(tmp_path, caplog):
    settings = Settings(_env_file=None, data_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="sylo.keyring"):
        first = Keyring.from_settings(settings)
        second = Keyring.from_settings(settings)
    path = tmp_path / "encryption.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    [line] = path.read_text().splitlines()
    assert parse_entry(line, 1)[0] == "local" == first.current_key_id
    assert second.decrypt(first.encrypt(b"x", AAD), AAD) == b"x"
    warnings = [r for r in caplog.records if "SYLO_ENCRYPTION_KEYS is not set" in r.getMessage()]
    assert len(warnings) == 1 and line.split(":")[1] not in caplog.text
    assert [p.name for p in tmp_path.iterdir()] == ["encryption.key"]


def test_a_damaged_key_file_names_the_file(tmp_path):
    path = tmp_path / "encryption.key"
    path.write_text(f"local:{SHORT}\n")
    with pytest.raises(KeyringError, match="encryption.key entry 1") as caught:
        Keyring.from_settings(Settings(_env_file=None, data_dir=tmp_path))
    assert SHORT not in str(caught.value)


def test_the_file_keyring_error_for_a_missing_key_says_where_keys_came_from(tmp_path):
    token = Keyring.from_entries([K1]).encrypt(b"x", AAD)
    with pytest.raises(UnknownKey, match="not in SYLO_ENCRYPTION_KEYS \\(the keyring was loaded from"):
        Keyring.from_settings(Settings(_env_file=None, data_dir=tmp_path)).decrypt(token, AAD)


def test_generated_entries_parse_and_bad_ids_are_refused():
    key_id, key = parse_entry(generate_entry(), 1)
    assert key_id.startswith("k") and len(key) == 32
    assert generate_entry("k1") != generate_entry("k1")
    with pytest.raises(KeyringError, match="1-32 characters"):
        generate_entry("no:colons")
