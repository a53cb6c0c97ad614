"""`sylo serve`, `sylo worker` and `sylo sign`: the API, the command outbox, and signing a command by hand."""

from __future__ import annotations

import signal

import click

from cli.common import settings as load_settings


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (0.0.0.0 behind a proxy).")
@click.option("--port", type=int, default=8000, show_default=True, help="Port to listen on.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes [default: SYLO_API_WORKERS].")
@click.option("--outbox-worker/--no-outbox-worker", default=None,
              help="Also run the outbox worker [default: on in the embedded mode, i.e. without SYLO_APP_DB_URL].")
def serve(host: str, port: int, workers: int | None, outbox_worker: bool | None) -> None:
    """Serve the API (context documents, MCP, commands) with gunicorn, and the outbox worker beside it."""
    import os
    import shutil
    import subprocess
    import sys

    settings = load_settings()
    here = os.path.dirname(sys.executable)
    gunicorn = shutil.which("gunicorn", path=here) or shutil.which("gunicorn")
    if gunicorn is None:
        raise click.ClickException("gunicorn is not installed in this environment (pip install -e .)")
    commands = [[gunicorn, "-c", "python:sylo.gunicorn_conf", "--bind", f"{host}:{port}",
                 "--workers", str(workers or settings.api_workers), "api:create_app()"]]
    if outbox_worker if outbox_worker is not None else not settings.app_db_url:
        commands.append([sys.executable, "-m", "cli", "worker"])
    click.echo(f"Serving the API on http://{host}:{port} (MCP at /mcp, health at /healthz)"
               + (", with the outbox worker" if len(commands) > 1 else ""), err=True)
    children = [subprocess.Popen(command) for command in commands]
    code = _supervise(children)
    sys.exit(code)


@click.command()
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
def worker(once: bool) -> None:
    """Drain the command outbox: deliver queued commands to n8n, retrying until delivered or too old."""
    from sylo.appdb import AppDB
    from sylo.commands import build_worker

    settings = load_settings()
    appdb = AppDB.from_settings(settings)
    appdb.migrate()
    outbox_worker = build_worker(settings, appdb)
    if once:
        click.echo(f"attempted {outbox_worker.drain_once()} deliveries")
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: outbox_worker.stop())
    outbox_worker.run()


@click.command()
@click.option("--user", "user_id", default=None, help="Sign with this user's newest secret from the app DB.")
@click.option("--secret", default=None, envvar="SYLO_SIGNING_SECRET", help="Or sign with this whsec_ secret.")
@click.option("--id", "message_id", default=None, help="webhook-id (default: a fresh msg_ id).")
@click.argument("body")
def sign(user_id: str | None, secret: str | None, message_id: str | None, body: str) -> None:
    """Print Standard Webhooks headers for BODY (a JSON string, or @file), for curl users."""
    import uuid

    from sylo.commands.signing import sign as sign_body

    settings = load_settings()
    data = open(body[1:], "rb").read() if body.startswith("@") else body.encode()
    if secret is None:
        if user_id is None:
            raise click.UsageError("pass --user ID or --secret whsec_...")
        from sylo.appdb import AppDB

        from cli.common import keyring

        secrets = AppDB.from_settings(settings).signing_secrets(user_id, keyring(settings))
        if not secrets:
            raise click.ClickException(f"user {user_id!r} has no active signing secret")
        secret = secrets[0]
    for name, value in sign_body(secret, message_id or f"msg_{uuid.uuid4().hex}", data).items():
        click.echo(f"{name}: {value}")


def _supervise(children) -> int:
    """Wait for the first child to exit, pass SIGINT/SIGTERM on to all, then stop the rest."""
    import time

    def forward(signum, _frame):
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, forward)
    while all(child.poll() is None for child in children):
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        child.wait(timeout=30)
    return next(child.returncode for child in children if child.returncode is not None)

