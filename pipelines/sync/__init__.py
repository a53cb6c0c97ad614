"""Sync: one engine (`engine.py`) and three small descriptions of what differs per service."""

from pipelines.sync.asana import AsanaSource
from pipelines.sync.engine import Outcome, Source, SyncSettings, sync_service
from pipelines.sync.gmail import GmailSource
from pipelines.sync.xero import XeroSource
from sylo.services import tables

SOURCES: dict[str, Source] = {"gmail": GmailSource(), "asana": AsanaSource(), "xero": XeroSource()}
TABLES = tables()

__all__ = ["SOURCES", "TABLES", "Outcome", "SyncSettings", "sync_service"]
