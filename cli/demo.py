"""The offline world: `sylo sandbox` serves it, `sylo demo` runs Sylo end to end against it."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import click
from pydantic import SecretStr

from cli.common import (KEY_NOTICE, fault_rates, keyring, local_key_file, new_key_file, parse_now, plural,
                        settings as load_settings, wait_for_signal)
from sylo.settings import Settings

NEXT = 'Next: make demo DEMO_ARGS="--serve" (or sylo demo --serve) opens the dashboard; README.md, "What next", goes on.'


@click.command()
@click.option("--port", type=int, default=3003, show_default=True, help="Port to listen on (0 picks a free one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--users", type=click.IntRange(min=0), default=3, show_default=True,
              help="End users to create, each connected to Gmail, Asana and Xero.")
@click.option("--seed", type=int, default=1, show_default=True, help="World seed: same seed, same world.")
@click.option("--now", "now_text", default=None, help="The world's 'now' (ISO 8601). Default: today, 00:00 UTC.")
@click.option("--scale", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="World size multiplier (1.0 is about 300 records per user).")
@click.option("--webhook-url", default=None, help="Where Nango auth webhooks are sent (none by default).")
@click.option("--fault-rate", "fault_specs", multiple=True, metavar="SERVICE=RATE",
              help="Fail this fraction of proxied calls with transient faults; SERVICE is gmail, asana, xero or all.")
@click.option("--no-limits", is_flag=True, help="Turn off the providers' rate limits.")
@click.option("--apply-changes", type=click.IntRange(min=0), default=0,
              help="Apply this many change batches (1% of records each) before serving.")
def sandbox(port: int, host: str, users: int, seed: int, now_text: str | None, scale: float,
            webhook_url: str | None, fault_specs: tuple[str, ...], no_limits: bool, apply_changes: int) -> None:
    """Serve the offline stand-ins for Nango, Gmail, Asana, Xero and n8n."""
    from sandbox import Sandbox, SandboxConfig
    from sandbox.changes import apply_batch
    from sandbox.faults import FaultConfig
    from sandbox.limits import LimitConfig

    settings = load_settings()
    config = SandboxConfig(seed=seed, users=users, scale=scale, webhook_url=webhook_url,
                           limits=LimitConfig(enabled=not no_limits), faults=FaultConfig(rates=fault_rates(fault_specs)),
                           n8n_auth_header=settings.n8n_auth_header,
                           n8n_auth_value=settings.n8n_auth_value.get_secret_value() if settings.n8n_auth_value else None)
    if (now := parse_now(now_text)) is not None:
        config.now = now
    generated = []
    if settings.nango_secret_key:
        config.secret_key = settings.nango_secret_key.get_secret_value()
    else:
        generated.append(f"SYLO_NANGO_SECRET_KEY={config.secret_key}")
    if settings.nango_webhook_keys:
        config.webhook_key = settings.nango_webhook_keys[0].get_secret_value()
    else:
        generated.append(f"SYLO_NANGO_WEBHOOK_KEYS={config.webhook_key}")
    world = Sandbox(config)
    for _ in range(apply_changes):
        apply_batch(world.world, fraction=0.01)
    server = world.serve(host, port)
    click.echo(f"Sylo sandbox on {server.url} (seed {seed}, now {config.now.isoformat()}, {users} users)")
    for user in world.world.users():
        click.echo(f"  {user.user_id}  {user.studio.name}  ({user.record_count()} records)")
    click.echo("Point Sylo at it, in the shell you run Sylo from (the keys work only with this sandbox):\n"
               f"  export SYLO_NANGO_URL={server.url} SYLO_N8N_URL={server.url} " + " ".join(generated))
    click.echo("Its end users become Sylo users with `sylo users create --email E --id <an id above>`; then `sylo run`.")
    wait_for_signal()
    server.stop()
    world.close()


@click.command()
@click.option("--users", type=click.IntRange(min=1), default=3, show_default=True, help="Studios to simulate.")
@click.option("--seed", type=int, default=1, show_default=True, help="World seed: same seed, same studios.")
@click.option("--now", "now_text", default=None, help="The world's 'now' (ISO 8601). Default: today, 00:00 UTC.")
@click.option("--scale", type=click.FloatRange(min=0.05), default=1.0, show_default=True, help="World size multiplier.")
@click.option("--serve", is_flag=True, help="Keep running: the API, the dashboard, the outbox worker and the pipeline.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port of the API and dashboard (with --serve).")
def demo(users: int, seed: int, now_text: str | None, scale: float, serve: bool, port: int) -> None:
    """Run Sylo end to end against an in-process sandbox and summarise what it learned."""
    from pipelines.pipeline import Pipeline

    from cli.run import _run

    settings = load_settings()
    world, server, settings = start_world(settings, users, seed, scale, parse_now(now_text),
                                          public_url=f"http://127.0.0.1:{port}" if serve else None)
    pipeline = Pipeline(settings)
    try:
        ids = world.world.initial_user_ids(users)
        click.echo(f"Sylo demo: an offline sandbox on {server.url} stands in for Nango, Gmail, Asana, Xero and n8n;\n"
                   f"{plural(users, 'studio')} (seed {seed}), the world's clock at {world.config.now:%Y-%m-%d %H:%M} UTC.\n")
        register_users(pipeline.appdb, world)
        # One clock for everything the documents judge (days overdue, due soon, stale): the wall clock,
        # the one sync times are on. The world's own clock only dates what it generates.
        report = _run(pipeline, ids, None)
        failures = report.failures
        _print_summary(pipeline, world, ids, report.as_of.date().isoformat())
        fresh_key = new_key_file(settings)
        _print_credentials(pipeline.appdb, ids, keyring(settings, announce=False))
        _print_files(pipeline, fresh_key)
        if serve:
            _serve_demo(pipeline, settings, ids[0], port)
        else:
            click.echo(NEXT)
    finally:
        pipeline.close()
        server.stop()
        world.close()
    raise SystemExit(1 if failures and not serve else 0)


def start_world(settings: Settings, users: int, seed: int, scale: float, now=None, public_url: str | None = None):
    """A sandbox in this process, and the settings that point Sylo at it (its keys are this run's own)."""
    import secrets
    import uuid

    from sandbox import Sandbox, SandboxConfig

    config = SandboxConfig(seed=seed, users=users, scale=scale, secret_key=str(uuid.uuid4()))
    if now is not None:
        config.now = now
    if public_url:
        config.webhook_url = f"{public_url}/webhooks/nango"
        config.n8n_auth_value = secrets.token_urlsafe(24)
    world = Sandbox(config)
    server = world.serve()
    pointed = settings.model_copy(update={
        "nango_url": server.url, "nango_secret_key": SecretStr(config.secret_key),
        "nango_webhook_keys": [SecretStr(config.webhook_key)], "n8n_url": server.url,
        "n8n_auth_value": SecretStr(config.n8n_auth_value) if config.n8n_auth_value else None,
        **({"public_url": public_url} if public_url else {})})
    return world, server, pointed


def register_users(appdb, world) -> None:
    """The sandbox's end users as Sylo users, with the same ids."""
    for user in world.world.users():
        appdb.ensure_user(user.user_id, email=user.studio.owner.email, display_name=user.studio.name)


def _print_summary(pipeline, world, user_ids: list[str], today: str) -> None:
    warehouse = pipeline.warehouse
    sql = warehouse.sql.render("user_summary")[0]
    click.echo("\nWhat Sylo learned about each studio:")
    for user_id in user_ids:
        [row] = warehouse.query(sql, {"user_id": user_id, "today": today})
        studio = world.world.user(user_id).studio
        click.echo(f"{user_id}  {studio.name} ({studio.kind}, {studio.country['code']})")
        click.echo(f"  gmail  {row[1]} messages, {row[2]} unread in the inbox")
        click.echo(f"  asana  {row[3]} active projects, {row[4]} open tasks, {row[5]} overdue")
        click.echo(f"  xero   {row[6]} unpaid invoices, {row[7]} overdue")


def _print_credentials(appdb, user_ids: list[str], ring) -> None:
    """An API token and a signing secret for each studio that has none yet, printed this once."""
    from datetime import timedelta

    issued = []
    for user_id in user_ids:
        token = None if any(t.revoked_at is None for t in appdb.tokens(user_id)) else \
            appdb.issue_token(user_id, label="sylo demo")[1]
        secret = None if appdb.signing_secrets(user_id, ring) else \
            appdb.rotate_signing_secret(user_id, ring, timedelta(0))[1]
        if token or secret:
            issued.append((user_id, token, secret))
    if not issued:
        click.echo("\nThe studios' API tokens and signing secrets were printed when they were created "
                   "(`sylo users token ID` issues another).")
        return
    click.echo("\nCredentials for agents, shown only this once (Sylo keeps a hash of each token and the secrets "
               "encrypted):")
    for user_id, token, secret in issued:
        click.echo(f"  {user_id}  API token {token or '(already issued)'}  signing secret {secret or '(already issued)'}")


def _print_files(pipeline, fresh_key: bool) -> None:
    settings = pipeline.settings
    warehouse = settings.warehouse_url or f"{Path(settings.data_dir) / 'warehouse.duckdb'} (DuckDB)"
    app_db = "Postgres (SYLO_APP_DB_URL)" if settings.app_db_url else f"{Path(settings.data_dir) / 'app.db'} (SQLite)"
    click.echo(f"\nFiles: the warehouse {_plain_url(warehouse)}; the app database {app_db}; the documents "
               f"{settings.exports}/<user>/context/.")
    if fresh_key:
        click.echo(KEY_NOTICE.format(path=local_key_file(settings)))


def _plain_url(url: str) -> str:
    """A warehouse URL without its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return url.replace(f":{parts.password}@", ":***@") if parts.password else url


def _serve_demo(pipeline, settings: Settings, first_user: str, port: int) -> None:
    """The API and dashboard, the outbox worker and the pipeline loop, in this process, until Ctrl-C."""
    import time

    from werkzeug.serving import make_server

    from api import create_app
    from pipelines.loop import PipelineLoop
    from sylo.accounts import Accounts
    from sylo.commands import build_worker

    logging.getLogger("werkzeug").setLevel(settings.log_level.upper())  # a line per request only if asked
    appdb = pipeline.appdb
    newcomer = "new-studio"
    appdb.ensure_user(newcomer, email="owner@new-studio.example", display_name="A studio with nothing connected")
    accounts = Accounts(appdb.engine)
    http = make_server("127.0.0.1", port, create_app(settings, appdb), threaded=True)
    outbox_worker = build_worker(settings, appdb)
    loop = PipelineLoop(pipeline, poll_seconds=1.0, sync_every=300.0)
    loop.last_full = time.monotonic()  # everyone was just synced above
    threads = [threading.Thread(target=target, daemon=True, name=name)
               for name, target in (("api", http.serve_forever), ("outbox", outbox_worker.run), ("pipeline", loop.run))]
    for thread in threads:
        thread.start()
    base = settings.public_url.rstrip("/")
    click.echo(f"\nSylo is serving on {base}: the dashboard at /, MCP at /mcp, the API under /v1.")
    click.echo(f"Sign in as {first_user} (synced studio):  {base}/login/{accounts.create_login_link(first_user, 120)}")
    click.echo(f"Sign in as {newcomer} (connect from scratch):  {base}/login/{accounts.create_login_link(newcomer, 120)}")
    click.echo(f"A signed command from another terminal: README.md, \"Quick start\" (USER_ID={first_user}).")
    click.echo("Open a sign-in link in your browser (each works once, for two hours); Ctrl-C stops everything.")
    try:
        wait_for_signal()
    finally:
        loop.stop()
        outbox_worker.stop()
        http.shutdown()
