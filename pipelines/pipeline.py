"""The one way the pipeline runs: `Pipeline.run(users, services) -> Report`.

Deleting data owners asked to delete, syncing, rebuilding the model slices and exporting the
documents of users whose inputs changed: every caller (the Dagster assets and batch job, the
loop, the CLI) runs exactly this and translates the Report. A `Pipeline` holds Sylo's parts for
one process, built once from Settings; nothing here imports Dagster or Flask.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from functools import cached_property

from pipelines.documents.export import Exporter
from pipelines.documents.publish import Published, PublishSettings, publish
from pipelines.documents.render import TEMPLATES_DIGEST
from pipelines.export_inputs import export_inputs, table_versions
from pipelines.models import ModelProject, ModelResult, ModelRunner
from pipelines.report import ModelReport, Report, ServiceReport, UserReport
from pipelines.sync import Outcome, SyncSettings
from pipelines.sync.retry import RetryPolicy
from pipelines.sync.runner import sync_users
from pipelines.warehouse import Warehouse, open_warehouse
from sylo.appdb import AppDB
from sylo.export_layout import ExportLayout
from sylo.nango.client import NangoClient
from sylo.services import by_integration
from sylo.settings import Settings

log = logging.getLogger(__name__)


class ConfigurationError(Exception):
    pass


class Pipeline:
    def __init__(self, settings: Settings, *, policy: RetryPolicy | None = None):
        self.settings = settings
        self.policy = policy or RetryPolicy()

    # -- the parts, built on first use -----------------------------------------------------------

    @cached_property
    def warehouse(self) -> Warehouse:
        warehouse = open_warehouse(self.settings.warehouse_url, self.settings.data_dir)
        warehouse.ensure_schema()
        return warehouse

    @cached_property
    def nango(self) -> NangoClient:
        if self.settings.nango_secret_key is None:
            raise ConfigurationError("SYLO_NANGO_SECRET_KEY is not set: Sylo cannot reach Nango")
        return NangoClient.shared(self.settings.nango_url, self.settings.nango_secret_key.get_secret_value(),
                                  timeout=self.settings.nango_timeout_seconds)

    @cached_property
    def appdb(self) -> AppDB:
        appdb = AppDB.from_settings(self.settings)
        appdb.migrate()
        return appdb

    @cached_property
    def exporter(self) -> Exporter:
        return Exporter(ExportLayout(self.settings.exports))

    @cached_property
    def models(self) -> ModelProject:
        return ModelProject()

    @property
    def publish_settings(self) -> PublishSettings:
        return PublishSettings(public_url=self.settings.public_url, token_budget=self.settings.context_token_budget,
                               stale_after=timedelta(hours=self.settings.stale_after_hours))

    # -- the one entry ---------------------------------------------------------------------------

    def run(self, user_ids: Iterable[str], services: Iterable[str] | None = None, *, as_of: datetime | None = None,
            on_synced: Callable[[str, list[Outcome]], None] | None = None) -> Report:
        """Purge, sync, rebuild and export for these users; say what happened to each."""
        started = time.monotonic()
        user_ids = list(dict.fromkeys(user_ids))
        services = list(services) if services is not None else None
        report = Report(as_of or datetime.now(timezone.utc), {u: UserReport(u) for u in user_ids})
        # One warehouse session for the run: DuckDB's file is opened once, not per statement group
        # (each open and close costs tens of milliseconds; another process still waits its turn).
        with self.warehouse.session():
            for user_id, service in self.purge_requested(user_ids, services):
                report.users[user_id].purged.append(service)
            for user_id, outcomes in self.sync(user_ids, services=services, on_done=on_synced).items():
                report.users[user_id].services = {o.service: ServiceReport.from_outcome(o) for o in outcomes}
            self._rebuild(report)
        report.seconds = time.monotonic() - started
        return report

    def _rebuild(self, report: Report) -> None:
        """Rebuild models and documents for the users whose export no longer matches its inputs."""
        user_ids = list(report.users)
        connections = self.connection_statuses(user_ids)
        versions = table_versions(self.warehouse, user_ids)
        for user_id, tables in versions.items():
            report.users[user_id].rows = {table: version[0] for table, version in tables.items()}
        inputs = export_inputs(self.warehouse, versions, as_of=report.as_of,
                               stale_after=self.publish_settings.stale_after, connections=connections,
                               code=self.code_digest)
        stale = [u for u in user_ids if (self.exporter.manifest(u) or {}).get("inputs") != inputs[u]]
        if not stale:
            return
        results = ModelRunner(self.warehouse, self.models).run(stale, report.as_of)
        for user_id in stale:
            report.users[user_id].models = _model_reports(results, user_id)
        for published in publish(self.warehouse, self.exporter, stale, as_of=report.as_of,
                                 settings=self.publish_settings, connections=connections,
                                 workers=self.settings.compile_workers, inputs=inputs):
            report.users[published.user_id].published = published

    @cached_property
    def code_digest(self) -> str:
        """What, besides data, shapes the documents: templates, models and publishing settings."""
        models = "|".join(f"{m.name}:{m.digest}" for m in sorted(self.models.order, key=lambda m: m.name))
        settings = self.publish_settings
        return hashlib.sha256(f"{TEMPLATES_DIGEST}|{models}|{settings.public_url}|{settings.token_budget}|"
                              f"{settings.stale_after}".encode()).hexdigest()

    # -- the steps, each usable on its own -------------------------------------------------------

    @property
    def sync_settings(self) -> SyncSettings:
        return SyncSettings.from_settings(self.settings)

    def sync(self, user_ids: list[str], *, services: Iterable[str] | None = None,
             on_done: Callable[[str, list[Outcome]], None] | None = None) -> dict[str, list[Outcome]]:
        return sync_users(user_ids, client=self.nango, warehouse=self.warehouse, settings=self.sync_settings,
                          policy=self.policy, workers=self.settings.sync_workers, services=services, on_done=on_done)

    def connection_statuses(self, user_ids: list[str]) -> dict[str, dict[str, str]]:
        """What the app DB knows about each user's connections (service -> status)."""
        wanted = set(user_ids)
        statuses: dict[str, dict[str, str]] = {}
        for record in self.appdb.connections():
            service = by_integration(record.integration)
            if record.user_id in wanted and service is not None:
                current = statuses.setdefault(record.user_id, {})
                if current.get(service.name) != "connected":  # a live connection beats an old one
                    current[service.name] = record.status
        return statuses

    def purge_requested(self, user_ids: Iterable[str] | None = None,
                        services: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """Delete the synced data owners asked to delete when they disconnected; (user, service) done."""
        wanted_users = set(user_ids) if user_ids is not None else None
        wanted_services = set(services) if services is not None else None
        done = []
        for record in self.appdb.pending_purges():
            known = by_integration(record.integration)
            if known is None or (wanted_users is not None and record.user_id not in wanted_users) or \
                    (wanted_services is not None and known.name not in wanted_services):
                continue
            self.warehouse.purge(record.user_id, known.name)
            self.appdb.purge_done(record.user_id, record.integration)
            log.info("deleted the %s data of %s, as its owner asked", known.name, record.user_id)
            done.append((record.user_id, known.name))
        return done

    def close(self) -> None:
        if "warehouse" in self.__dict__:
            self.warehouse.close()
        if "appdb" in self.__dict__:
            self.appdb.close()


def _model_reports(results: list[ModelResult], user_id: str) -> list[ModelReport]:
    """The user's share of a run of the models (a view is shared: it reports no rows of its own)."""
    return [ModelReport(r.name, r.rows_by_user.get(user_id, 0),
                        {test: users[user_id] for test, users in r.failures_by_user.items() if users.get(user_id)},
                        r.full_rebuild)
            for r in results]


__all__ = ["ConfigurationError", "Pipeline", "Published", "Report"]
