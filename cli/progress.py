"""Plain-text progress and summaries for the CLI (works the same in a terminal and a log)."""

from __future__ import annotations

from collections.abc import Callable

import click


def outcome_line(outcome) -> str:
    """`gmail ok +12 ~3 -1` or `xero paused: Xero daily API limit ...`."""
    total = outcome.totals
    if outcome.status == "ok":
        text = f"{outcome.service} ok +{total.added} ~{total.updated} -{total.deleted}"
        if outcome.stats.retries:
            text += f" ({outcome.stats.retries} retries)"
        return text + (" [full resync]" if outcome.full_resync else "")
    return f"{outcome.service} {outcome.status}: {outcome.message}"


def progress_printer(total: int) -> Callable:
    done = {"n": 0}

    def on_done(user_id: str, outcomes: list) -> None:
        done["n"] += 1
        click.echo(f"[{done['n']}/{total}] {user_id}  " + " | ".join(outcome_line(o) for o in outcomes))

    return on_done
