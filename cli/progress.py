"""Plain-text progress and summaries for the CLI (works the same in a terminal and a log)."""

from __future__ import annotations

from collections.abc import Callable

import click

from cli.common import plural


def outcome_line(outcome) -> str:
    """`gmail ok +12 ~3 -1` (records added, updated, deleted) or `xero paused: Xero daily API limit ...`."""
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


def report_lines(report, exports, removed: list[str]) -> list[str]:
    """What a run rebuilt and wrote, what failed and what to do about it."""
    failing = {f"{m.name}.{test}": count for u in report.users.values() for m in u.models
               for test, count in m.failures.items()}
    rebuilt, written = report.rebuilt, len(report.written)
    lines = [f"Models rebuilt for {plural(len(rebuilt), 'user')}"
             + (f"; FAILING DATA TESTS: {failing}" if failing else "; all data tests pass") + ".",
             f"Documents written for {plural(written, 'user')} in {exports}/ "
             f"({len(report.users) - written} unchanged"
             + (f"; {plural(len(removed), 'deleted user')}' files removed" if removed else "") + ")."]
    for user_id, failed in report.failures:
        lines.append(f"FAILED {user_id} {failed.service}: {failed.message}\n  Next: {failed.next_step}")
    return lines
