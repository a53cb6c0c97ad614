"""The one list of services Sylo syncs. Every layer reads it: the sync sources, the Dagster
assets, the documents, the dashboard, the CLI and the sandbox.

A service is known by three names: Sylo's (`gmail`, in tables, cursors and documents), Nango's
integration id (`google-mail`, the provider config key a studio sets up in Nango) and the name a
person reads (`Gmail`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    """A raw warehouse table (`raw.<name>`) the service's sync fills."""

    name: str
    description: str


@dataclass(frozen=True)
class Service:
    name: str
    integration: str
    display_name: str
    tables: tuple[Table, ...]
    marts: tuple[str, ...]  # the marts built from this service's tables
    documents: tuple[str, ...]  # the document kinds (and `all` sections) whose content comes from it

    @property
    def table_names(self) -> tuple[str, ...]:
        return tuple(table.name for table in self.tables)


SERVICES: tuple[Service, ...] = (
    Service("gmail", "google-mail", "Gmail",
            (Table("gmail_messages", "Gmail message headers, snippet, labels and thread per user (never bodies). "
                                     "Trash and spam are tombstoned."),),
            marts=("communications",), documents=("communications",)),
    Service("asana", "asana", "Asana",
            (Table("asana_projects", "Asana projects per user, refreshed in full every sync; projects gone upstream "
                                     "are tombstoned."),
             Table("asana_tasks", "Asana tasks per user, polled by modified_since per project; deletions found by id "
                                  "reconciliation.")),
            marts=("projects", "tasks"), documents=("projects", "tasks")),
    Service("xero", "xero", "Xero",
            (Table("xero_contacts", "Xero contacts per user (If-Modified-Since); ARCHIVED contacts are tombstoned."),
             Table("xero_invoices", "Xero sales invoices and bills per user (If-Modified-Since); DELETED/VOIDED are "
                                    "tombstoned.")),
            marts=("invoices", "financials"), documents=("financials",)),
)

NAMES: tuple[str, ...] = tuple(service.name for service in SERVICES)
_BY_NAME = {service.name: service for service in SERVICES}
_BY_INTEGRATION = {service.integration: service for service in SERVICES}
_BY_TABLE = {table.name: service for service in SERVICES for table in service.tables}


class UnknownService(KeyError):
    pass


def service(name: str) -> Service:
    """The service called `name` (Sylo's name, e.g. `gmail`)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownService(f"unknown service {name!r}; services are {', '.join(NAMES)}") from None


def by_integration(integration: str) -> Service | None:
    """The service behind a Nango integration id (`google-mail` -> gmail), or None."""
    return _BY_INTEGRATION.get(integration)


def by_table(table: str) -> Service:
    """The service whose sync fills a raw table."""
    return _BY_TABLE[table]


def tables() -> dict[str, tuple[str, ...]]:
    """Service name -> its raw table names, in the registry's order."""
    return {s.name: s.table_names for s in SERVICES}
