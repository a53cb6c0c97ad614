"""`sylo dagster`: the Dagster UI in the embedded mode, ready to run.

`dagster dev` needs a DAGSTER_HOME that exists and holds the instance config, and Sylo's code
location needs a Nango to sync from. This command prepares `<data dir>/dagster` with
`deploy/dagster-embedded.yaml` (one run at a time: DuckDB takes one writer), and, unless
SYLO_NANGO_URL and SYLO_NANGO_SECRET_KEY point at a Nango, starts the demo's sandbox in this process
(same seed and users, so the studios `sylo demo` registered sync again). Then it runs `dagster dev`
on `workspace.yaml` (the code location `assets/definitions.py`) until Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import click

from cli.common import ROOT, appdb, plural, settings as load_settings
from sylo.files import private_dir

INSTANCE = ROOT / "deploy" / "dagster-embedded.yaml"
WORKSPACE = ROOT / "workspace.yaml"


@click.command("dagster")
@click.option("--port", type=int, default=3000, show_default=True, help="Port of the Dagster UI.")
@click.option("--users", type=click.IntRange(min=1), default=3, show_default=True,
              help="Studios of the sandbox started when no Nango is set (as `sylo demo --users`).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of that sandbox (as `sylo demo --seed`).")
def dagster_ui(port: int, users: int, seed: int) -> None:
    """Open the Dagster UI (embedded mode) on the demo's data, with a sandbox unless a Nango is set."""
    settings = load_settings()
    home = prepare_home(Path(settings.data_dir))
    env = {**os.environ, "DAGSTER_HOME": str(home), "SYLO_DATA_DIR": str(Path(settings.data_dir).resolve())}
    world = server = None
    if settings.nango_secret_key is None:
        from cli.demo import register_users, start_world

        world, server, pointed = start_world(settings, users, seed, 1.0)
        with appdb(pointed) as db:
            register_users(db, world)
        env |= {"SYLO_NANGO_URL": server.url, "SYLO_NANGO_SECRET_KEY": pointed.nango_secret_key.get_secret_value(),
                "SYLO_NANGO_WEBHOOK_KEYS": pointed.nango_webhook_keys[0].get_secret_value(), "SYLO_N8N_URL": server.url}
        click.echo(f"No SYLO_NANGO_SECRET_KEY set, so the demo's sandbox runs on {server.url} "
                   f"({plural(users, 'studio')}, seed {seed}).")
    else:
        click.echo(f"Syncing from the Nango at {settings.nango_url}.")
    click.echo(f"DAGSTER_HOME={home} (instance: {INSTANCE.relative_to(ROOT)}); code location: assets/definitions.py.")
    click.echo(f"The Dagster UI comes up on http://127.0.0.1:{port} in a few seconds; stop `sylo demo --serve` "
               "first (DuckDB takes one writer). Ctrl-C stops everything.")
    try:
        code = _dagster_dev(port, env)
    finally:
        if server is not None:
            server.stop()
            world.close()
    raise SystemExit(code)


def prepare_home(data_dir: Path) -> Path:
    """`<data dir>/dagster`, made if missing, holding the embedded instance config as dagster.yaml."""
    home = private_dir(data_dir / "dagster").resolve()
    config = home / "dagster.yaml"
    if not config.exists() or config.read_bytes() != INSTANCE.read_bytes():
        shutil.copyfile(INSTANCE, config)
    return home


def _dagster_dev(port: int, env: dict) -> int:
    """`dagster dev` on the workspace, passing Ctrl-C on, until it exits."""
    dagster = shutil.which("dagster", path=os.path.dirname(sys.executable)) or shutil.which("dagster")
    if dagster is None:
        raise click.ClickException("dagster is not installed in this environment (make install)")
    # Its own session, so a Ctrl-C in the terminal reaches it once, through us, not twice.
    child = subprocess.Popen([dagster, "dev", "-w", str(WORKSPACE), "-p", str(port), "-h", "127.0.0.1"], env=env,
                             start_new_session=True)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda sig, _frame: child.send_signal(sig))
    return child.wait()
