"""The `sylo` command line. Each command builds Settings once and passes it down.

One module per story: `run` (the pipeline once, and the documents' schemas), `demo` (the
offline sandbox and the end-to-end demo), `dagster_ui` (the Dagster UI, embedded mode),
`serve` (the API, the outbox worker, signing a command), `users` (users, tokens, secrets, the
keyring); `common` holds what they share and `progress` the lines a run prints.
"""

from __future__ import annotations

import click

from cli.dagster_ui import dagster_ui
from cli.demo import demo, sandbox
from cli.run import _run, run, schemas  # noqa: F401 (`_run` is the CLI's one way into the pipeline)
from cli.serve import serve, sign, worker
from cli.users import keys_group, users_group


@click.group()
@click.version_option(package_name="sylo")
def main() -> None:
    """Sylo: a working knowledge of a creative studio for AI agents."""


for command in (sandbox, run, demo, dagster_ui, schemas, users_group, keys_group, serve, worker, sign):
    main.add_command(command)
