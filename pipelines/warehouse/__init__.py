"""The warehouse: the raw replica and its sync state, on DuckDB (embedded) or Postgres.

Both speak the same schema (`sql/schema.sql`) and the same statements, rendered per dialect.
Every sync page is applied in one transaction: rows (bulk, staged then swapped in), tombstones,
sweeps and the cursor that covers them. A crash leaves either all of a page or none of it.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

SQL_DIR = Path(__file__).resolve().parent / "sql"
RAW_TABLES = ("gmail_messages", "asana_projects", "asana_tasks", "xero_contacts", "xero_invoices")


@dataclass
class StreamState:
    """Where one stream of one user's service stands."""

    stream: str
    cursor: dict | None = None
    last_success_at: datetime | None = None
    last_full_sync_at: datetime | None = None
    blocked_until: datetime | None = None
    last_error: str | None = None


@dataclass
class Tombstones:
    table: str
    ids: list[str]
    column: str = "id"


@dataclass
class Sweep:
    """Mark deleted every live row of `table` not seen since `before` (after a complete listing)."""

    table: str
    before: datetime


@dataclass
class Batch:
    """One unit of progress: rows per table, deletions, and the stream states that cover them."""

    rows: dict[str, list[dict]] = field(default_factory=dict)
    tombstones: list[Tombstones] = field(default_factory=list)
    sweeps: list[Sweep] = field(default_factory=list)
    states: list[StreamState] = field(default_factory=list)
    pages: int = 1


@dataclass
class Counts:
    added: int = 0
    updated: int = 0
    deleted: int = 0

    def __iadd__(self, other: "Counts") -> "Counts":
        self.added += other.added
        self.updated += other.updated
        self.deleted += other.deleted
        return self


def row_hash(row: dict) -> str:
    """A digest of a row's business columns, to tell real updates from re-reads."""
    payload = {k: v for k, v in row.items() if not k.startswith("_") and k != "user_id"}
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=_plain).encode()).hexdigest()


def _plain(value: Any) -> str:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


class SqlFiles:
    """Renders `sql/*.sql` for one dialect: `p('x')` is a parameter, `in_list(col, 'x')` a list test."""

    def __init__(self, dialect: str):
        self.dialect = dialect
        self.env = Environment(loader=FileSystemLoader(SQL_DIR), undefined=StrictUndefined, autoescape=False,
                               keep_trailing_newline=True)
        self.env.globals.update(p=self._param, in_list=self._in_list)

    def _param(self, name: str) -> str:
        return f"${name}" if self.dialect == "duckdb" else f"%({name})s"

    def _in_list(self, column: str, name: str) -> str:
        if self.dialect == "duckdb":
            return f"{column} IN (SELECT unnest(${name}))"
        return f"{column} = ANY(%({name})s)"

    @lru_cache(maxsize=256)
    def render(self, name: str, **context: Any) -> list[str]:
        """Return the statements of one file, rendered."""
        text = self.env.get_template(name).render(**context)
        return [s.strip() for s in text.split(";\n") if s.strip() and not _only_comments(s)]


def _only_comments(statement: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in statement.splitlines())


class Transaction(ABC):
    """What a dialect offers inside one transaction."""

    @abstractmethod
    def execute(self, sql: str, params: dict | None = None) -> list[tuple]: ...

    @abstractmethod
    def update(self, sql: str, params: dict | None = None) -> int:
        """Run an UPDATE/DELETE and return how many rows it changed."""

    @abstractmethod
    def stage(self, table: str, columns: list[str], rows: list[dict]) -> None:
        """Make `rows` queryable as `staged` (same columns as raw.<table>) until `unstage`."""

    @abstractmethod
    def unstage(self) -> None: ...


class Warehouse(ABC):
    dialect: str

    def __init__(self) -> None:
        self.sql = SqlFiles(self.dialect)

    @abstractmethod
    def transaction(self) -> Any:
        """Context manager yielding a Transaction; commits on success, rolls back on error."""

    @contextmanager
    def session(self) -> Iterator["Warehouse"]:
        """Hold resources (DuckDB keeps its file open) across many calls; a no-op by default."""
        yield self

    def close(self) -> None:
        """Release connections."""

    def ensure_schema(self) -> None:
        with self.transaction() as tx:
            for statement in self.sql.render("schema.sql"):
                tx.execute(statement)

    def apply(self, user_id: str, batch: Batch, now: datetime) -> dict[str, Counts]:
        """Apply a batch in one transaction; return added/updated/deleted per table."""
        counts: dict[str, Counts] = {}
        with self.transaction() as tx:
            for table, rows in batch.rows.items():
                if rows:
                    counts.setdefault(table, Counts())
                    counts[table] += self._upsert(tx, table, rows)
            for tomb in batch.tombstones:
                if tomb.ids:
                    deleted = self._update_count(tx, "tombstone.sql", tomb.table, column=tomb.column,
                                                 params={"now": now, "user_id": user_id, "ids": list(tomb.ids)})
                    counts.setdefault(tomb.table, Counts()).deleted += deleted
            for sweep in batch.sweeps:
                deleted = self._update_count(tx, "sweep.sql", sweep.table,
                                             params={"now": now, "user_id": user_id, "before": sweep.before})
                counts.setdefault(sweep.table, Counts()).deleted += deleted
            for state in batch.states:
                self._save_state(tx, user_id, state, now)
        return counts

    def _upsert(self, tx: Transaction, table: str, rows: list[dict]) -> Counts:
        columns = list(rows[0])
        tx.stage(table, columns, rows)
        try:
            (added, updated), = tx.execute(self.sql.render("count_changes.sql", table=table)[0])
            for statement in self.sql.render("upsert.sql", table=table, columns=tuple(columns)):
                tx.execute(statement)
        finally:
            tx.unstage()
        return Counts(added=added or 0, updated=updated or 0)

    def _update_count(self, tx: Transaction, file: str, table: str, *, params: dict, column: str = "id") -> int:
        return tx.update(self.sql.render(file, table=table, column=column)[0], params)

    def _save_state(self, tx: Transaction, user_id: str, state: StreamState, now: datetime) -> None:
        service = state.stream.split(".")[0]
        tx.execute(self.sql.render("save_state.sql")[0], {
            "user_id": user_id, "service": service, "stream": state.stream,
            "cursor": json.dumps(state.cursor, sort_keys=True) if state.cursor is not None else None,
            "last_success_at": state.last_success_at, "last_full_sync_at": state.last_full_sync_at,
            "blocked_until": state.blocked_until, "last_error": state.last_error, "updated_at": now})

    def save_states(self, user_id: str, states: list[StreamState], now: datetime) -> None:
        with self.transaction() as tx:
            for state in states:
                self._save_state(tx, user_id, state, now)

    def load_state(self, user_id: str, service: str) -> dict[str, StreamState]:
        with self.transaction() as tx:
            rows = tx.execute(self.sql.render("load_state.sql")[0], {"user_id": user_id, "service": service})
        return {r[0]: StreamState(r[0], json.loads(r[1]) if r[1] else None, *r[2:6]) for r in rows}

    def reset_state(self, user_id: str, service: str) -> None:
        with self.transaction() as tx:
            tx.execute(self.sql.render("reset_state.sql")[0], {"user_id": user_id, "service": service})

    def live_ids(self, user_id: str, table: str, columns: tuple[str, ...] = ()) -> dict[str, tuple]:
        """Live row ids of one user's table, each with the values of `columns`."""
        with self.transaction() as tx:
            rows = tx.execute(self.sql.render("live_ids.sql", table=table, columns=columns)[0], {"user_id": user_id})
        return {r[0]: tuple(r[1:]) for r in rows}

    def query(self, sql: str, params: dict | None = None) -> list[tuple]:
        """Run a read-only statement (already in this dialect's parameter style)."""
        with self.transaction() as tx:
            return tx.execute(sql, params)

    def param(self, name: str) -> str:
        return self.sql._param(name)


def open_warehouse(url: str | None, data_dir: Path) -> Warehouse:
    """DuckDB at `<data_dir>/warehouse.duckdb` by default; Postgres for a postgresql:// URL."""
    if url and url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        from pipelines.warehouse.postgres import PostgresWarehouse

        return PostgresWarehouse(url)
    from pipelines.warehouse.duckdb import DuckDBWarehouse

    if url:
        if not url.startswith("duckdb:///"):
            raise ValueError(f"SYLO_WAREHOUSE_URL must be postgresql://... or duckdb:///path, not {url.split(':')[0]}:...")
        return DuckDBWarehouse(Path(url.removeprefix("duckdb:///")))
    return DuckDBWarehouse(Path(data_dir) / "warehouse.duckdb")
