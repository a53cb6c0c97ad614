"""The `sylo` command line. Each command builds Settings once and passes it down."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timezone

import click
from pydantic import SecretStr

from sylo.services import NAMES as SERVICE_NAMES
from sylo.settings import Settings


def _settings() -> Settings:
    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "alembic"):  # a line per request or migration step drowns the progress
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return settings


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 date-time: {value}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _fault_rates(specs: tuple[str, ...]) -> dict[str, float]:
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


@click.group()
@click.version_option(package_name="sylo")
def main() -> None:
    """Sylo: a working knowledge of a creative studio for AI agents."""


@main.command()
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

    settings = _settings()
    config = SandboxConfig(seed=seed, users=users, scale=scale, webhook_url=webhook_url,
                           limits=LimitConfig(enabled=not no_limits), faults=FaultConfig(rates=_fault_rates(fault_specs)),
                           n8n_auth_header=settings.n8n_auth_header,
                           n8n_auth_value=settings.n8n_auth_value.get_secret_value() if settings.n8n_auth_value else None)
    if (now := _parse_now(now_text)) is not None:
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
    click.echo(f"Point Sylo at it:  export SYLO_NANGO_URL={server.url} SYLO_N8N_URL={server.url}")
    if generated:
        click.echo("Sandbox-only keys (not set, so generated for this run):\n  export " + " ".join(generated))
    _wait_for_signal()
    server.stop()
    world.close()


@main.command()
@click.option("--user", "user_ids", multiple=True, help="Sync only this user (repeatable). Default: every user.")
@click.option("--service", "services", multiple=True, type=click.Choice(SERVICE_NAMES),
              help="Sync only this service (repeatable).")
def run(user_ids: tuple[str, ...], services: tuple[str, ...]) -> None:
    """Run the pipeline once, in this process, against the configured Nango."""
    from pipelines.pipeline import Pipeline

    pipeline = Pipeline(_settings())
    try:
        report = _run(pipeline, list(user_ids) or None, list(services) or None)
    finally:
        pipeline.close()
    raise SystemExit(1 if report.failures else 0)


def _run(pipeline, user_ids: list[str] | None, services: list[str] | None, as_of: datetime | None = None):
    """Reconcile connections, run the pipeline with a line per user, say where the files are."""
    from cli.progress import progress_printer, report_lines
    from pipelines.pipeline import ConfigurationError
    from sylo.nango.reconcile import reconcile_connections

    try:
        pipeline.nango  # noqa: B018 - fail now, with the setting's name, rather than mid-sync
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    known = [u.id for u in pipeline.appdb.list_users()]
    missing = sorted(set(user_ids or []) - set(known))
    if missing:
        raise click.UsageError(f"unknown user(s): {', '.join(missing)}")
    targets = user_ids or known
    if not targets:
        raise click.UsageError("there are no users yet: run `sylo demo`, or create one with `sylo users create`")
    events = reconcile_connections(pipeline.appdb, pipeline.nango)
    click.echo(f"Syncing {len(targets)} user(s) from {pipeline.settings.nango_url}"
               + (f" ({len(events)} connection change(s) recorded)" if events else ""))
    report = pipeline.run(targets, services, as_of=as_of, on_synced=progress_printer(len(targets)))
    removed = pipeline.exporter.prune(set(known)) if user_ids is None else []
    for line in report_lines(report, pipeline.settings.exports, removed):
        click.echo(line)
    if report.users:
        _preview(pipeline, next(iter(report.users)))
    return report


def _preview(pipeline, user_id: str, lines: int = 24) -> None:
    path = pipeline.exporter.layout.context(user_id, "all", "md")
    if path.exists():
        click.echo(f"\n--- {path} (first {lines} lines) ---")
        click.echo("\n".join(path.read_text().splitlines()[:lines]))
        click.echo("---")


@main.command()
@click.option("--users", type=click.IntRange(min=1), default=3, show_default=True, help="Studios to simulate.")
@click.option("--seed", type=int, default=1, show_default=True, help="World seed: same seed, same studios.")
@click.option("--now", "now_text", default=None, help="The world's 'now' (ISO 8601). Default: today, 00:00 UTC.")
@click.option("--scale", type=click.FloatRange(min=0.05), default=1.0, show_default=True, help="World size multiplier.")
@click.option("--serve", is_flag=True, help="Keep running: the API, the dashboard, the outbox worker and the pipeline.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port of the API and dashboard (with --serve).")
def demo(users: int, seed: int, now_text: str | None, scale: float, serve: bool, port: int) -> None:
    """Run Sylo end to end against an in-process sandbox and summarise what it learned."""
    import secrets
    import uuid

    from pipelines.pipeline import Pipeline
    from sandbox import Sandbox, SandboxConfig

    settings = _settings()
    config = SandboxConfig(seed=seed, users=users, scale=scale, secret_key=str(uuid.uuid4()))
    if (now := _parse_now(now_text)) is not None:
        config.now = now
    public_url = f"http://127.0.0.1:{port}"
    if serve:
        config.webhook_url = f"{public_url}/webhooks/nango"
        config.n8n_auth_value = secrets.token_urlsafe(24)
    world = Sandbox(config)
    server = world.serve()
    settings = settings.model_copy(update={
        "nango_url": server.url, "nango_secret_key": SecretStr(config.secret_key),
        "nango_webhook_keys": [SecretStr(config.webhook_key)], "n8n_url": server.url,
        "n8n_auth_value": SecretStr(config.n8n_auth_value) if config.n8n_auth_value else None,
        **({"public_url": public_url} if serve else {})})
    pipeline = Pipeline(settings)
    try:
        click.echo(f"Sandbox on {server.url}: {users} studio(s), seed {seed}, now {config.now:%Y-%m-%d %H:%M} UTC")
        ids = world.world.initial_user_ids(users)
        for user in world.world.users():
            pipeline.appdb.ensure_user(user.user_id, email=user.studio.owner.email, display_name=user.studio.name)
        # One clock for everything the documents judge (days overdue, due soon, stale): the wall clock,
        # the one sync times are on. The world's own clock only dates what it generates.
        report = _run(pipeline, ids, None)
        failures = report.failures
        _print_summary(pipeline, world, ids, report.as_of.date().isoformat())
        click.echo(f"Warehouse: {pipeline.warehouse!r}; app DB: {pipeline.appdb!r}")
        if serve:
            _serve_demo(pipeline, settings, ids[0], port)
    finally:
        pipeline.close()
        server.stop()
        world.close()
    raise SystemExit(1 if failures and not serve else 0)


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
    click.echo(f"\nSylo is serving on {base}  (dashboard at /, MCP at /mcp, API under /v1)")
    click.echo(f"Sign in as {first_user} (synced studio):  {base}/login/{accounts.create_login_link(first_user, 120)}")
    click.echo(f"Sign in as {newcomer} (connect from scratch):  {base}/login/{accounts.create_login_link(newcomer, 120)}")
    click.echo("Links work once, for two hours. Ctrl-C stops everything.", err=True)
    try:
        _wait_for_signal()
    finally:
        loop.stop()
        outbox_worker.stop()
        http.shutdown()


def _print_summary(pipeline, world, user_ids: list[str], today: str) -> None:
    warehouse = pipeline.warehouse
    sql = warehouse.sql.render("user_summary")[0]
    click.echo("")
    for user_id in user_ids:
        [row] = warehouse.query(sql, {"user_id": user_id, "today": today})
        studio = world.world.user(user_id).studio
        click.echo(f"{user_id}  {studio.name} ({studio.kind}, {studio.country['code']})")
        click.echo(f"  gmail  {row[1]} messages, {row[2]} unread in the inbox")
        click.echo(f"  asana  {row[3]} active projects, {row[4]} open tasks, {row[5]} overdue")
        click.echo(f"  xero   {row[6]} unpaid invoices, {row[7]} overdue")


@main.command()
def schemas() -> None:
    """Regenerate the published JSON Schemas of the context documents (schemas/context/)."""
    from pipelines.documents.schema import write_schemas

    for path in write_schemas():
        click.echo(f"wrote {path}")


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


# -- users, tokens, signing secrets and the keyring -------------------------------------------


def _clear_errors(command):
    """Known failures (unknown user, duplicate user, keyring problems) exit 1 with one clear line."""
    import functools

    @functools.wraps(command)
    def run(*args, **kwargs):
        from sylo.appdb.store import UnknownUser, UserExists
        from sylo.keyring import KeyringError

        try:
            return command(*args, **kwargs)
        except (UnknownUser, UserExists, KeyringError) as exc:
            raise click.ClickException(str(exc)) from None

    return run


def _appdb(settings: Settings):
    """The app DB, migrated: these commands may be the first thing run on a fresh data dir."""
    from sylo.appdb import AppDB

    appdb = AppDB.from_settings(settings)
    appdb.migrate()
    return appdb


def _check_user_id(_ctx, _param, value: str | None) -> str | None:
    from sylo.export_layout import USER_ID

    if value is not None and not USER_ID.match(value):
        raise click.BadParameter("use up to 100 letters, digits, _ or -, starting with a letter or digit")
    return value


def _user_id_from(email: str) -> str:
    """A readable, unlikely-to-collide id: the email's local part as a slug, plus a random suffix."""
    import re
    import secrets

    slug = re.sub(r"[^a-z0-9]+", "-", email.split("@", 1)[0].lower()).strip("-")[:40] or "user"
    return f"{slug}-{secrets.token_hex(3)}"


def _show_once(values: dict[str, str], as_json: bool, lines: list[str]) -> None:
    if as_json:
        import json

        click.echo(json.dumps(values))
        return
    click.echo("\n".join(lines))
    click.echo("Shown only this once: Sylo keeps just a hash or an encrypted copy. Store it safely now.")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


@main.group("users")
def users_group() -> None:
    """Create users and manage their API tokens and signing secrets."""


@users_group.command("create")
@click.option("--email", required=True, help="The user's email address (unique).")
@click.option("--id", "user_id", callback=_check_user_id, help="User id; default: from the email plus a random suffix.")
@click.option("--name", default=None, help="Display name.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@_clear_errors
def users_create(email: str, user_id: str | None, name: str | None, as_json: bool) -> None:
    """Create a user with an API token and a signing secret, each shown once."""
    from sylo.keyring import Keyring

    if "@" not in email.strip("@"):
        raise click.BadParameter(f"not an email address: {email!r}", param_hint="--email")
    settings = _settings()
    keyring = Keyring.from_settings(settings)
    with _appdb(settings) as appdb:
        made = appdb.create_user_with_credentials(user_id or _user_id_from(email), email, keyring, name)
    _show_once({"user_id": made.user.id, "email": email, "api_token": made.api_token, "token_id": made.token.id,
                "signing_secret": made.signing_secret, "secret_id": made.secret.id}, as_json,
               [f"Created user {made.user.id} ({email}).",
                f"API token {made.token.id}:       {made.api_token}",
                f"Signing secret {made.secret.id}:  {made.signing_secret}"])


@users_group.command("token")
@click.argument("user_id")
@click.option("--label", default=None, help="What the token is for, such as the agent that uses it.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@_clear_errors
def users_token(user_id: str, label: str | None, as_json: bool) -> None:
    """Issue a new API token for a user, shown once."""
    with _appdb(_settings()) as appdb:
        info, token = appdb.issue_token(user_id, label)
    _show_once({"user_id": user_id, "api_token": token, "token_id": info.id}, as_json,
               [f"API token {info.id} for {user_id}: {token}"])


@users_group.command("tokens")
@click.argument("user_id")
@_clear_errors
def users_tokens(user_id: str) -> None:
    """List a user's API tokens (ids and labels; tokens themselves are never stored)."""
    with _appdb(_settings()) as appdb:
        if appdb.get_user(user_id) is None:
            raise click.ClickException(f"no user with id {user_id!r}")
        tokens = appdb.tokens(user_id)
    for token in tokens:
        state = f"revoked {_when(token.revoked_at)}" if token.revoked_at else "live"
        click.echo(f"{token.id}  created {_when(token.created_at)}  {state}  {token.label or ''}".rstrip())
    if not tokens:
        click.echo(f"{user_id} has no API tokens; issue one with `sylo users token {user_id}`.")


@users_group.command("revoke-token")
@click.argument("token_id")
@_clear_errors
def users_revoke_token(token_id: str) -> None:
    """Revoke an API token: requests carrying it are refused from now on."""
    with _appdb(_settings()) as appdb:
        if not appdb.revoke_token(token_id):
            raise click.ClickException(f"no live API token with id {token_id!r}")
    click.echo(f"Revoked {token_id}.")


@users_group.command("secret")
@click.argument("user_id")
@click.option("--rotate", is_flag=True, help="Issue a new signing secret; the current ones expire after the grace.")
@click.option("--grace-hours", type=click.FloatRange(min=0), default=24.0, show_default=True,
              help="How long the previous secrets keep verifying after --rotate.")
@click.option("--json", "as_json", is_flag=True, help="With --rotate: print one JSON object instead of text.")
@_clear_errors
def users_secret(user_id: str, rotate: bool, grace_hours: float, as_json: bool) -> None:
    """Show a user's signing secrets (ids and validity only), or rotate them with --rotate."""
    from datetime import timedelta

    from sylo.keyring import Keyring

    settings = _settings()
    with _appdb(settings) as appdb:
        if not rotate:
            if appdb.get_user(user_id) is None:
                raise click.ClickException(f"no user with id {user_id!r}")
            for info in appdb.signing_secret_infos(user_id):
                state = (f"revoked {_when(info.revoked_at)}" if info.revoked_at
                         else f"expires {_when(info.expires_at)}" if info.expires_at else "live")
                click.echo(f"{info.id}  created {_when(info.created_at)}  {state}  key {info.key_id}")
            return
        info, secret = appdb.rotate_signing_secret(user_id, Keyring.from_settings(settings),
                                                   timedelta(hours=grace_hours))
    _show_once({"user_id": user_id, "signing_secret": secret, "secret_id": info.id}, as_json,
               [f"Signing secret {info.id} for {user_id}: {secret}",
                f"Previous secrets keep verifying for {grace_hours:g} hour(s)."])


@users_group.command("list")
def users_list() -> None:
    """List users."""
    with _appdb(_settings()) as appdb:
        found = appdb.list_users()
    for user in found:
        click.echo(f"{user.id}  {user.email or '-'}  {user.display_name or ''}".rstrip())
    if not found:
        click.echo("No users yet; create one with `sylo users create --email ...`.")


@users_group.command("login-link")
@click.argument("user_id")
@click.option("--minutes", type=click.FloatRange(min=1, max=7 * 24 * 60), default=30, show_default=True,
              help="How long the link stays valid.")
@_clear_errors
def users_login_link(user_id: str, minutes: float) -> None:
    """Print a one-time dashboard sign-in link for a user (their first visit, or a lost password)."""
    from sylo.accounts import Accounts

    settings = _settings()
    with _appdb(settings) as appdb:
        if appdb.get_user(user_id) is None:
            raise click.ClickException(f"no user {user_id!r}; `sylo users list` shows them")
        token = Accounts(appdb.engine).create_login_link(user_id, minutes)
    click.echo(f"{settings.public_url.rstrip('/')}/login/{token}")
    click.echo(f"(valid once, for {minutes:g} minutes)", err=True)


@main.group("keys")
def keys_group() -> None:
    """Manage the keyring that encrypts secrets at rest (SYLO_ENCRYPTION_KEYS)."""


@keys_group.command("generate")
@click.option("--id", "key_id", default=None, help="Key id (1-32 of A-Z a-z 0-9 _ -); default: k<date>-<random>.")
@_clear_errors
def keys_generate(key_id: str | None) -> None:
    """Print a new keyring entry to prepend to SYLO_ENCRYPTION_KEYS."""
    from sylo.keyring import generate_entry

    click.echo(generate_entry(key_id))
    click.echo("Prepend it to SYLO_ENCRYPTION_KEYS (newest first), restart Sylo, then run `sylo keys reencrypt`.",
               err=True)


@keys_group.command("reencrypt")
@_clear_errors
def keys_reencrypt() -> None:
    """Re-encrypt every stored secret under the newest key, so older keys can be removed."""
    from sylo.keyring import Keyring

    settings = _settings()
    keyring = Keyring.from_settings(settings)
    with _appdb(settings) as appdb:
        moved = appdb.reencrypt(keyring)
    click.echo(f"Re-encrypted {moved} secret(s); everything is now under key {keyring.current_key_id!r}.")
    if len(keyring.key_ids) > 1:
        click.echo(f"Keys {', '.join(repr(k) for k in keyring.key_ids[1:])} can now be removed "
                   "from SYLO_ENCRYPTION_KEYS.")


@main.command()
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

    settings = _settings()
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


@main.command()
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
def worker(once: bool) -> None:
    """Drain the command outbox: deliver queued commands to n8n, retrying until delivered or too old."""
    from sylo.appdb import AppDB
    from sylo.commands import build_worker

    settings = _settings()
    appdb = AppDB.from_settings(settings)
    appdb.migrate()
    outbox_worker = build_worker(settings, appdb)
    if once:
        click.echo(f"attempted {outbox_worker.drain_once()} deliveries")
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: outbox_worker.stop())
    outbox_worker.run()


@main.command()
@click.option("--user", "user_id", default=None, help="Sign with this user's newest secret from the app DB.")
@click.option("--secret", default=None, envvar="SYLO_SIGNING_SECRET", help="Or sign with this whsec_ secret.")
@click.option("--id", "message_id", default=None, help="webhook-id (default: a fresh msg_ id).")
@click.argument("body")
def sign(user_id: str | None, secret: str | None, message_id: str | None, body: str) -> None:
    """Print Standard Webhooks headers for BODY (a JSON string, or @file), for curl users."""
    import uuid

    from sylo.commands.signing import sign as sign_body

    settings = _settings()
    data = open(body[1:], "rb").read() if body.startswith("@") else body.encode()
    if secret is None:
        if user_id is None:
            raise click.UsageError("pass --user ID or --secret whsec_...")
        from sylo.appdb import AppDB
        from sylo.keyring import Keyring

        secrets = AppDB.from_settings(settings).signing_secrets(user_id, Keyring.from_settings(settings))
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

