"""Settings: environment and .env are read; every setting is documented in the README."""

from __future__ import annotations

import re
from pathlib import Path

from sylo.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented_in_the_readme():
    documented = set(re.findall(r"`(SYLO_[A-Z0-9_]+)`", README.read_text()))
    missing = sorted(set(Settings(_env_file=None).env_names) - documented)
    assert not missing, f"settings missing from README.md: {missing}"


def test_the_readme_documents_no_setting_that_does_not_exist():
    documented = set(re.findall(r"^\| `(SYLO_[A-Z0-9_]+)`", README.read_text(), flags=re.M))
    assert documented <= set(Settings(_env_file=None).env_names)


def test_environment_variables_win_and_lists_split_on_commas(monkeypatch):
    monkeypatch.setenv("SYLO_DATA_DIR", "/tmp/elsewhere")
    monkeypatch.setenv("SYLO_NANGO_WEBHOOK_KEYS", "new-key, old-key")
    settings = Settings(_env_file=None)
    assert settings.data_dir == Path("/tmp/elsewhere")
    assert [k.get_secret_value() for k in settings.nango_webhook_keys] == ["new-key", "old-key"]


def test_a_dot_env_file_is_read(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("SYLO_NANGO_URL=http://127.0.0.1:9999\nSYLO_SYNC_WORKERS=7\n")
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert (settings.nango_url, settings.sync_workers) == ("http://127.0.0.1:9999", 7)


def test_secrets_do_not_show_in_reprs(monkeypatch):
    monkeypatch.setenv("SYLO_NANGO_SECRET_KEY", "3f1c9a52-5b0e-4f3f-8a51-2d6c1e0b9a77")
    settings = Settings(_env_file=None)
    assert "3f1c9a52" not in repr(settings) and "3f1c9a52" not in str(settings.model_dump())
