"""What every `sylo` command shares: settings and logging, option parsers, the app DB, the keyring."""

from __future__ import annotations

import functools
import logging
import signal
import threading
from datetime import datetime, timezone
from pathlib import Path

import click

from sylo.services import NAMES as SERVICE_NAMES
from sylo.settings import Settings

ROOT = Path(__file__).resolve().parents[1]  # the repository: workspace.yaml, deploy/


def settings() -> Settings:
    """Settings from the environment, and logging that suits a terminal."""
    found = Settings()
    logging.basicConfig(level=found.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "alembic"):  # a line per request or migration step drowns the progress
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not found.app_db_url and not found.encryption_keys:
        # On a laptop (the embedded mode) the generated key file is expected: `keyring()` says so once,
        # when it is created, instead of a warning on every command.
        logging.getLogger("sylo.keyring").setLevel(logging.ERROR)
    return found


def keyring(found: Settings, announce: bool = True):
    """The keyring; when it generates the local key file, one line says where and what to do instead."""
    from sylo.keyring import Keyring

    created = new_key_file(found)
    ring = Keyring.from_settings(found)
    if created and announce:
        click.echo(KEY_NOTICE.format(path=local_key_file(found)), err=True)
    return ring


KEY_NOTICE = ("Secrets at rest are encrypted with a key generated in {path}: fine on a laptop; in production set "
              "SYLO_ENCRYPTION_KEYS (`sylo keys generate`).")


def local_key_file(found: Settings) -> Path:
    from sylo.keyring import KEY_FILE

    return Path(found.data_dir) / KEY_FILE


def new_key_file(found: Settings) -> bool:
    """Whether the keyring, built now, would generate the local key file."""
    return not found.encryption_keys and not local_key_file(found).exists()


def appdb(found: Settings):
    """The app DB, migrated: these commands may be the first thing run on a fresh data dir."""
    from sylo.appdb import AppDB

    opened = AppDB.from_settings(found)
    opened.migrate()
    return opened


def parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 date-time: {value}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def fault_rates(specs: tuple[str, ...]) -> dict[str, float]:
    rates: dict[str, float] = {}
    for spec in specs:
        service, _, rate = spec.partition("=")
        try:
            value = float(rate)
        except ValueError:
            raise click.BadParameter(f"expected SERVICE=RATE, got {spec!r}") from None
        if not 0 <= value <= 1:
            raise click.BadParameter(f"rate must be between 0 and 1, got {spec!r}")
        for name in SERVICE_NAMES if service == "all" else (service,):
            if name not in SERVICE_NAMES:
                raise click.BadParameter(f"unknown service {service!r} ({', '.join(SERVICE_NAMES)} or all)")
            rates[name] = value
    return rates


def wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def clear_errors(command):
    """Known failures (unknown user, duplicate user, keyring problems) exit 1 with one clear line."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        from sylo.appdb.store import UnknownUser, UserExists
        from sylo.keyring import KeyringError

        try:
            return command(*args, **kwargs)
        except (UnknownUser, UserExists, KeyringError) as exc:
            raise click.ClickException(str(exc)) from None

    return run


def plural(count: int, noun: str) -> str:
    """"1 user", "3 users"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
