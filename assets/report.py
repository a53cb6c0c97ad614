"""A pipeline Report, as Dagster sees it: the same facts for the per-user asset and the batch job.

`facts` decides what happened (what was materialized, which checks passed); `as_results` and
`as_events` only change the wrapping: a per-user step yields results, the batch op logs events
against each user's partition. So the UI shows the same thing whichever path ran.

What it reports, per user:
- a raw table is materialized when its service synced and found something new (or synced for
  the first time); a service that is not connected (or not asked for) reports nothing at all, and
  neither does a pass that found nothing new and stands as the last one did (its checks' last
  results still hold, and 1,000 quiet users must not cost the event log 25,000 rows);
- `sync_succeeded` fails (ERROR) when the sync failed, with the operator's next step; warns when
  the provider's daily quota paused it; the data checks run wherever there is data;
- models, their tests and the documents are reported when the user's slice was rebuilt.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import dagster as dg

from assets.specs import MODELS
from pipelines.checks import run_checks
from pipelines.pipeline import Pipeline
from pipelines.report import Report, ServiceReport, SyncStatus, UserReport
from sylo.services import SERVICES

PREVIEW_LINES = 24


@dataclass(frozen=True)
class Materialized:
    asset: str
    user_id: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Checked:
    asset: str
    check: str
    user_id: str
    passed: bool
    description: str | None = None
    warn_only: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> dg.AssetCheckSeverity:
        return dg.AssetCheckSeverity.WARN if self.warn_only else dg.AssetCheckSeverity.ERROR


Fact = Materialized | Checked


def facts(report: Report, pipeline: Pipeline) -> list[Fact]:
    """Everything worth telling Dagster about a run, user by user."""
    found: list[Fact] = []
    for user in report.users.values():
        found += _raw_facts(user, pipeline)
        found += _model_facts(user)
        found += _document_facts(user, pipeline)
    return found


def _raw_facts(user: UserReport, pipeline: Pipeline) -> Iterator[Fact]:
    stale_after = timedelta(hours=pipeline.settings.stale_after_hours)
    for service in SERVICES:
        synced = user.services.get(service.name)
        if synced is None or not synced.newsworthy:
            continue
        for table in service.table_names:
            if synced.status is SyncStatus.SYNCED:
                yield Materialized(table, user.user_id, _table_metadata(synced, table, user.rows.get(table, 0)))
            yield _sync_check(synced, table, user.user_id)
        for check in run_checks(pipeline.warehouse, user.user_id, service.table_names, stale_after):
            yield Checked(check.table, check.name, user.user_id, check.passed, check.detail, check.warn_only,
                          check.metadata)


def _table_metadata(synced: ServiceReport, table: str, live_rows: int) -> dict[str, Any]:
    counts = synced.outcome.counts.get(table) if synced.outcome else None
    return {**(synced.outcome.metadata() if synced.outcome else {}), "dagster/row_count": live_rows,
            "table_added": counts.added if counts else 0, "table_updated": counts.updated if counts else 0,
            "table_deleted": counts.deleted if counts else 0}


def _sync_check(synced: ServiceReport, table: str, user_id: str) -> Checked:
    if synced.status is SyncStatus.SYNCED:
        return Checked(table, "sync_succeeded", user_id, True)
    if synced.status is SyncStatus.PAUSED:
        return Checked(table, "sync_succeeded", user_id, False, synced.message, warn_only=True)
    return Checked(table, "sync_succeeded", user_id, False, f"{synced.message} — {synced.next_step}",
                   metadata={"problem": str(synced.problem), "next_step": synced.next_step or ""})


def _model_facts(user: UserReport) -> Iterator[Fact]:
    for model in user.models:
        yield Materialized(model.name, user.user_id, {"dagster/row_count": model.rows,
                                                      "full_rebuild": model.full_rebuild,
                                                      "relation": MODELS.models[model.name].relation})
        for test in MODELS.models[model.name].tests:
            failing = model.failures.get(test.name, 0)
            yield Checked(model.name, test.name, user.user_id, failing == 0,
                          f"{failing} rows fail {test.kind} on {test.column}" if failing else None,
                          metadata={"failing_rows": failing})


def _document_facts(user: UserReport, pipeline: Pipeline) -> Iterator[Fact]:
    if user.published is None:
        return
    layout = pipeline.exporter.layout
    written = user.published.written
    preview = layout.context(user.user_id, "all", "md")
    yield Materialized("context_documents", user.user_id, {
        "written": len([f for f in written if f.startswith("context/")]), "unchanged": user.published.unchanged,
        "path": dg.MetadataValue.path(str(layout.user_dir(user.user_id) / "context")),
        "preview": dg.MetadataValue.md("\n".join(preview.read_text().splitlines()[:PREVIEW_LINES])
                                       if preview.exists() else "(not exported)")})
    yield Materialized("mcp_configs", user.user_id, {
        "written": len([f for f in written if f.startswith("mcp/")]),
        "path": dg.MetadataValue.path(str(layout.user_dir(user.user_id) / "mcp"))})


def as_results(found: list[Fact]) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """For a per-user step: results of the step's own partition."""
    for fact in found:
        if isinstance(fact, Materialized):
            yield dg.MaterializeResult(asset_key=fact.asset, metadata=fact.metadata)
        else:
            yield dg.AssetCheckResult(asset_key=fact.asset, check_name=fact.check, passed=fact.passed,
                                      severity=fact.severity, description=fact.description, metadata=fact.metadata)


def as_events(found: list[Fact]) -> Iterator[dg.AssetMaterialization | dg.AssetCheckEvaluation]:
    """For the batch op: events against each user's partition."""
    for fact in found:
        if isinstance(fact, Materialized):
            yield dg.AssetMaterialization(asset_key=fact.asset, partition=fact.user_id, metadata=fact.metadata)
        else:
            yield dg.AssetCheckEvaluation(asset_key=dg.AssetKey(fact.asset), check_name=fact.check,
                                          passed=fact.passed, severity=fact.severity, description=fact.description,
                                          metadata=fact.metadata, partition=fact.user_id)


def failure_tags(report: Report) -> dict[str, str]:
    """Run tags that name the users whose sync failed, so the runs list shows them."""
    if not report.failures:
        return {}
    failed = ", ".join(f"{user_id}/{s.service} ({s.problem})" for user_id, s in report.failures)
    return {"sylo/failed": failed[:250]}


def failure_summary(report: Report) -> str:
    """One line per failed sync, each with what to do."""
    return "\n".join(f"{user_id}: {s.service} — {s.message} Next: {s.next_step}" for user_id, s in report.failures)
