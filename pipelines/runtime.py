"""Sylo's parts for one process, built once from Settings: warehouse, Nango client, app DB.

The CLI and the Dagster code location both stand on this; nothing here imports Dagster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cached_property

from pipelines.nango import NangoClient
from pipelines.retry import RetryPolicy
from pipelines.sync import Outcome, SyncSettings
from pipelines.sync.runner import sync_users
from pipelines.warehouse import Warehouse, open_warehouse
from sylo.appdb import AppDB
from sylo.settings import Settings


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

    def close(self) -> None:
        if "warehouse" in self.__dict__:
            self.warehouse.close()
        if "appdb" in self.__dict__:
            self.appdb.close()
