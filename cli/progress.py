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


def report_lines(report, exports, removed: list[str]) -> list[str]:
    """What a run rebuilt and wrote, what failed and what to do about it."""
    failing = {f"{m.name}.{test}": count for u in report.users.values() for m in u.models
               for test, count in m.failures.items()}
    rebuilt = report.rebuilt
    lines = [f"Models: rebuilt for {len(rebuilt)} user(s)"
             + (f"; FAILING TESTS: {failing}" if failing else "; all tests pass"),
             f"Exports in {exports}: {len(report.written)} user(s) written, "
             f"{len(report.users) - len(report.written)} unchanged"
             + (f", {len(removed)} deleted user(s) removed" if removed else "")]
    for user_id, failed in report.failures:
        lines.append(f"FAILED {user_id} {failed.service}: {failed.message}\n  Next: {failed.next_step}")
    return lines
