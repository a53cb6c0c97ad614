"""The `sylo` command line. Each command builds Settings once and passes it down."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timezone

import click
from pydantic import SecretStr

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
        for name in ("gmail", "asana", "xero") if service == "all" else (service,):
            if name not in ("gmail", "asana", "xero"):
                raise click.BadParameter(f"unknown service {service!r} (gmail, asana, xero or all)")
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
@click.option("--service", "services", multiple=True, type=click.Choice(["gmail", "asana", "xero"]),
              help="Sync only this service (repeatable).")
def run(user_ids: tuple[str, ...], services: tuple[str, ...]) -> None:
    """Run the pipeline once, in this process, against the configured Nango."""
    from pipelines.runtime import Runtime

    runtime = Runtime(_settings())
    try:
        failures = _run(runtime, list(user_ids) or None, list(services) or None)
    finally:
        runtime.close()
    raise SystemExit(1 if failures else 0)


def _run(runtime, user_ids: list[str] | None, services: list[str] | None, as_of: datetime | None = None) -> int:
    """Reconcile connections, sync, print progress; return how many service syncs failed."""
    from pipelines.connections import reconcile_connections
    from pipelines.runtime import ConfigurationError
    from sylo.progress import progress_printer

    try:
        runtime.nango  # noqa: B018 - fail now, with the setting's name, rather than mid-sync
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    known = [u.id for u in runtime.appdb.list_users()]
    missing = sorted(set(user_ids or []) - set(known))
    if missing:
        raise click.UsageError(f"unknown user(s): {', '.join(missing)}")
    targets = user_ids or known
    if not targets:
        raise click.UsageError("there are no users yet: run `sylo demo`, or create one with `sylo users create`")
    events = reconcile_connections(runtime.appdb, runtime.nango)
    click.echo(f"Syncing {len(targets)} user(s) from {runtime.settings.nango_url}"
               + (f" ({len(events)} connection change(s) recorded)" if events else ""))
    results = runtime.sync(targets, services=services, on_done=progress_printer(len(targets)))
    _export(runtime, results, as_of or datetime.now(timezone.utc), prune=user_ids is None)
    return sum(o.status == "failed" for outcomes in results.values() for o in outcomes)


def _export(runtime, results: dict, as_of: datetime, *, prune: bool) -> None:
    """Rebuild models and documents for the users that need it, then say where the files are."""
    refresh = runtime.users_to_refresh(results, as_of)
    models, published = runtime.compile(refresh, as_of)
    failing = {name: count for m in models for name, count in m.failures.items()}
    written = [p for p in published if not p.unchanged]
    click.echo(f"Models: {len(models)} built for {len(refresh)} user(s)"
               + (f"; FAILING TESTS: {failing}" if failing else "; all tests pass"))
    removed = runtime.exporter.prune({u.id for u in runtime.appdb.list_users()}) if prune else []
    click.echo(f"Exports in {runtime.settings.exports}: {len(written)} user(s) written, "
               f"{len(published) - len(written) + len(results) - len(refresh)} unchanged"
               + (f", {len(removed)} deleted user(s) removed" if removed else ""))
    if results:
        _preview(runtime, next(iter(results)))


def _preview(runtime, user_id: str, lines: int = 24) -> None:
    path = runtime.exporter.layout.context(user_id, "all", "md")
    if path.exists():
        click.echo(f"\n--- {path} (first {lines} lines) ---")
        click.echo("\n".join(path.read_text().splitlines()[:lines]))
        click.echo("---")


@main.command()
@click.option("--users", type=click.IntRange(min=1), default=3, show_default=True, help="Studios to simulate.")
@click.option("--seed", type=int, default=1, show_default=True, help="World seed: same seed, same studios.")
@click.option("--now", "now_text", default=None, help="The world's 'now' (ISO 8601). Default: today, 00:00 UTC.")
@click.option("--scale", type=click.FloatRange(min=0.05), default=1.0, show_default=True, help="World size multiplier.")
def demo(users: int, seed: int, now_text: str | None, scale: float) -> None:
    """Run Sylo end to end against an in-process sandbox and summarise what it learned."""
    import uuid

    from pipelines.runtime import Runtime
    from sandbox import Sandbox, SandboxConfig

    settings = _settings()
    config = SandboxConfig(seed=seed, users=users, scale=scale, secret_key=str(uuid.uuid4()))
    if (now := _parse_now(now_text)) is not None:
        config.now = now
    world = Sandbox(config)
    server = world.serve()
    settings = settings.model_copy(update={"nango_url": server.url, "nango_secret_key": SecretStr(config.secret_key)})
    runtime = Runtime(settings)
    try:
        click.echo(f"Sandbox on {server.url}: {users} studio(s), seed {seed}, now {config.now:%Y-%m-%d %H:%M} UTC")
        ids = world.world.initial_user_ids(users)
        for user in world.world.users():
            runtime.appdb.ensure_user(user.user_id, email=user.studio.owner.email, display_name=user.studio.name)
        failures = _run(runtime, ids, None, as_of=config.now)
        _print_summary(runtime, world, ids, config.now.date().isoformat())
        click.echo(f"Warehouse: {runtime.warehouse!r}; app DB: {runtime.appdb!r}")
    finally:
        runtime.close()
        server.stop()
        world.close()
    raise SystemExit(1 if failures else 0)


def _print_summary(runtime, world, user_ids: list[str], today: str) -> None:
    warehouse = runtime.warehouse
    sql = warehouse.sql.render("user_summary.sql")[0]
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
    from pipelines.documents import write_schemas

    for path in write_schemas():
        click.echo(f"wrote {path}")


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


if __name__ == "__main__":
    main()
