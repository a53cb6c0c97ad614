"""`sylo run`: the pipeline once, in this process; and `sylo schemas`, the shape of what it writes."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

import click

from cli.common import plural, settings as load_settings
from sylo.services import NAMES as SERVICE_NAMES

PREVIEW_LINES = 32  # whole sections of all.md, as many as fit
SETUP = """\
Sylo syncs through Nango, and needs to know where it is and its secret key. For a sandbox started with
`sylo sandbox`, copy the export line it printed, or set:
  export SYLO_NANGO_URL=http://127.0.0.1:3003 SYLO_NANGO_SECRET_KEY=<the key `sylo sandbox` printed>
For Nango Cloud: SYLO_NANGO_URL=https://api.nango.dev and SYLO_NANGO_SECRET_KEY from its Environment Settings.
`sylo demo` needs none of this: it starts its own sandbox."""


@click.command()
@click.option("--user", "user_ids", multiple=True, help="Sync only this user (repeatable). Default: every user.")
@click.option("--service", "services", multiple=True, type=click.Choice(SERVICE_NAMES),
              help="Sync only this service (repeatable).")
def run(user_ids: tuple[str, ...], services: tuple[str, ...]) -> None:
    """Run the pipeline once, in this process, against the configured Nango."""
    from pipelines.pipeline import Pipeline

    pipeline = Pipeline(load_settings())
    try:
        report = _run(pipeline, list(user_ids) or None, list(services) or None)
    finally:
        pipeline.close()
    if report.users:
        click.echo("Next: agents read these files through the API: `sylo serve` (README, \"The API\").")
    raise SystemExit(1 if report.failures else 0)


def _run(pipeline, user_ids: list[str] | None, services: list[str] | None, as_of: datetime | None = None):
    """Reconcile connections, run the pipeline with a line per user, say where the files are."""
    from cli.progress import progress_printer, report_lines
    from sylo.nango.reconcile import reconcile_connections

    _check_nango(pipeline.settings)
    known = [u.id for u in pipeline.appdb.list_users()]
    missing = sorted(set(user_ids or []) - set(known))
    if missing:
        raise click.UsageError(f"unknown user(s): {', '.join(missing)}")
    targets = user_ids or known
    if not targets:
        raise click.UsageError("there are no users yet: run `sylo demo`, or create one with `sylo users create` "
                               "(for a sandbox you started, `--id` with an end-user id it printed)")
    events = _reachable(pipeline, lambda: reconcile_connections(pipeline.appdb, pipeline.nango))
    click.echo(f"Syncing {plural(len(targets), 'user')} from {pipeline.settings.nango_url}{_changes(events)}.")
    click.echo("Per service, records added (+), updated (~) and deleted (-):")
    report = pipeline.run(targets, services, as_of=as_of, on_synced=progress_printer(len(targets)))
    removed = pipeline.exporter.prune(set(known)) if user_ids is None else []
    for line in report_lines(report, pipeline.settings.exports, removed):
        click.echo(line)
    if report.users:
        _preview(pipeline, next(iter(report.users)))
    return report


def _check_nango(found) -> None:
    if found.nango_secret_key is None:
        raise click.ClickException(f"SYLO_NANGO_SECRET_KEY is not set.\n{SETUP}")


def _reachable(pipeline, call):
    """Run `call`, turning "Nango is not there" and "Nango refused the key" into what to set."""
    from sylo.nango.client import NangoAuthError, TransportError

    url = pipeline.settings.nango_url
    try:
        return call()
    except NangoAuthError:
        raise click.ClickException(f"Nango at {url} refused SYLO_NANGO_SECRET_KEY.\n{SETUP}") from None
    except TransportError:
        raise click.ClickException(f"Nothing answers at SYLO_NANGO_URL={url}. Is the sandbox (or Nango) "
                                   f"running there?\n{SETUP}") from None


def _changes(events: list) -> str:
    """" (Nango: 9 new connections)": what reconciling with Nango found, in words."""
    kinds = Counter(event.kind for event in events)
    words = {"connected": "new connection", "reconnected": "repaired connection",
             "needs_reauth": "connection that needs signing in again", "disconnected": "connection gone"}
    parts = [plural(count, words.get(kind, kind)) for kind, count in kinds.items()]
    return f" (Nango: {', '.join(parts)})" if parts else ""


def _preview(pipeline, user_id: str) -> None:
    """The start of one all.md, in whole sections: what an agent reads first."""
    path = pipeline.exporter.layout.context(user_id, "all", "md")
    if not path.exists():
        return
    blocks = [block.strip("\n") for block in re.split(r"(?m)^(?=## )", path.read_text())]
    shown, lines = [blocks[0]], blocks[0].count("\n") + 1
    for block in blocks[1:]:
        size = block.count("\n") + 2
        if lines + size > PREVIEW_LINES and len(shown) > 1:
            break
        shown.append(block)
        lines += size
    click.echo(f"\nWhat an agent reads first: {path} (its header and {len(shown) - 1} of "
               f"{plural(len(blocks) - 1, 'section')})")
    click.echo("-" * 72)
    click.echo("\n\n".join(shown))
    click.echo("-" * 72)


@click.command()
def schemas() -> None:
    """Regenerate the published JSON Schemas of the context documents (schemas/context/)."""
    from pipelines.documents.schema import write_schemas

    for path in write_schemas():
        click.echo(f"wrote {path}")
