"""Sylo's parts for one process, built once from Settings: warehouse, Nango client, app DB.

The CLI and the Dagster code location both stand on this; nothing here imports Dagster.
"""

from __future__ import annotations

import logging

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import cached_property

from pipelines.documents.export import Exporter
from pipelines.models import ModelResult, ModelRunner
from sylo.nango.client import NangoClient
from pipelines.documents.publish import Published, PublishSettings, publish
from pipelines.sync.retry import RetryPolicy
from pipelines.sync import Outcome, SyncSettings
from pipelines.sync.runner import sync_users
from pipelines.warehouse import Warehouse, open_warehouse
from sylo.services import by_integration
from sylo.appdb import AppDB
from sylo.export_layout import ExportLayout
from sylo.settings import Settings


log = logging.getLogger(__name__)


class ConfigurationError(Exception):
    pass


class Runtime:
    def __init__(self, settings: Settings, *, policy: RetryPolicy | None = None):
        self.settings = settings
        self.policy = policy or RetryPolicy()

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

    @property
    def sync_settings(self) -> SyncSettings:
        return SyncSettings.from_settings(self.settings)

    def sync(self, user_ids: list[str], *, services: Iterable[str] | None = None,
             on_done: Callable[[str, list[Outcome]], None] | None = None) -> dict[str, list[Outcome]]:
        return sync_users(user_ids, client=self.nango, warehouse=self.warehouse, settings=self.sync_settings,
                          policy=self.policy, workers=self.settings.sync_workers, services=services, on_done=on_done)

    @cached_property
    def exporter(self) -> Exporter:
        return Exporter(ExportLayout(self.settings.exports))

    @property
    def publish_settings(self) -> PublishSettings:
        return PublishSettings(public_url=self.settings.public_url, token_budget=self.settings.context_token_budget,
                               stale_after=timedelta(hours=self.settings.stale_after_hours))

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

    def compile(self, user_ids: list[str], as_of: datetime, *,
                on_done: Callable[[Published], None] | None = None) -> tuple[list[ModelResult], list[Published]]:
        """Rebuild the users' model slices, then export their documents and configs."""
        if not user_ids:
            return [], []
        models = ModelRunner(self.warehouse).run(user_ids, as_of)
        published = publish(self.warehouse, self.exporter, user_ids, as_of=as_of, settings=self.publish_settings,
                            connections=self.connection_statuses(user_ids), on_done=on_done,
                            workers=self.settings.compile_workers)
        return models, published

    def users_to_refresh(self, results: dict[str, list[Outcome]], as_of: datetime) -> list[str]:
        """Users whose documents may differ: new data, a failing source, or a new day (relative dates)."""
        refresh = []
        for user_id, outcomes in results.items():
            changed = any(o.totals.added or o.totals.updated or o.totals.deleted or o.status in ("failed", "paused")
                          for o in outcomes)
            manifest = self.exporter.manifest(user_id)
            new_day = manifest is None or not manifest.get("as_of", "").startswith(as_of.date().isoformat())
            if changed or new_day:
                refresh.append(user_id)
        return refresh

    def purge_requested(self, user_ids: Iterable[str] | None = None, services: Iterable[str] | None = None) -> set[str]:
        """Delete the synced data owners asked to delete when they disconnected; the users affected."""
        wanted_users = set(user_ids) if user_ids is not None else None
        wanted_services = set(services) if services is not None else None
        done = set()
        for record in self.appdb.pending_purges():
            known = by_integration(record.integration)
            service = known.name if known else None
            if service is None or (wanted_users is not None and record.user_id not in wanted_users) or \
                    (wanted_services is not None and service not in wanted_services):
                continue
            self.warehouse.purge(record.user_id, service)
            self.appdb.purge_done(record.user_id, record.integration)
            log.info("deleted the %s data of %s, as its owner asked", service, record.user_id)
            done.add(record.user_id)
        return done

    def close(self) -> None:
        if "warehouse" in self.__dict__:
            self.warehouse.close()
        if "appdb" in self.__dict__:
            self.appdb.close()
