"""The warehouse: the raw replica and its sync state, on DuckDB (embedded) or Postgres.

Both speak the same schema and the same statements (`sql/*.sql`, written per dialect by sqlglot).
Every sync page is applied in one transaction: rows (bulk, staged then swapped in), tombstones,
sweeps and the cursor that covers them. A crash leaves either all of a page or none of it.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pipelines.warehouse.statements import SqlFiles
from sylo import services


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
    touch: bool = False  # part of a complete listing that ends in a Sweep: stamp unchanged rows seen

    @property
    def row_count(self) -> int:
        return sum(len(rows) for rows in self.rows.values())

    @property
    def writes_data(self) -> bool:
        return bool(self.row_count or any(t.ids for t in self.tombstones) or self.sweeps)

    def absorb(self, later: "Batch") -> None:
        """Fold a later batch into this one, as if applied after it (one transaction for both).

        Rows are applied before tombstones, so a row re-appearing later must leave the earlier
        tombstones; the newest version of a row and of a stream state wins.
        """
        for table, rows in later.rows.items():
            merged = {row["id"]: row for row in self.rows.get(table, [])}
            merged.update({row["id"]: row for row in rows})
            self.rows[table] = list(merged.values())
            revived = {row["id"] for row in rows}
            for tomb in self.tombstones:
                if tomb.table == table and tomb.column == "id":
                    tomb.ids = [i for i in tomb.ids if i not in revived]
        self.tombstones += later.tombstones
        self.sweeps += later.sweeps
        states = {s.stream: s for s in self.states}
        states.update({s.stream: s for s in later.states})
        self.states = list(states.values())
        self.pages += later.pages
        self.touch = self.touch or later.touch


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
    """A digest of a row's business columns, to tell real updates from re-reads.

    Rows are built in a fixed column order from plain values (str, int, bool, Decimal, date,
    datetime, None) whose reprs are stable, so hashing the repr is enough, and cheap.
    """
    payload = tuple(v for k, v in row.items() if not k.startswith("_") and k != "user_id")
    return hashlib.sha1(repr(payload).encode()).hexdigest()


class Transaction(ABC):
    """What a dialect offers inside one transaction."""

    @abstractmethod
    def execute(self, sql: str, params: dict | None = None) -> list[tuple]: ...

    def records(self, sql: str, params: dict | None = None) -> list[dict]:
        """Run a query and return its rows as dicts keyed by column name."""
        rows = self.execute(sql, params)
        names = self.column_names()
        return [dict(zip(names, row)) for row in rows]

    @abstractmethod
    def column_names(self) -> list[str]:
        """Column names of the last query."""

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

    def take_ddl_turn(self, tx: "Transaction") -> None:
        """Hold the warehouse's DDL turn until `tx` ends, so runs in other processes that create or
        replace the same schemas and relations wait instead of colliding. DuckDB allows one writing
        process per file, so by default there is nothing to wait for."""

    def ensure_schema(self) -> None:
        with self.transaction() as tx:
            for statement in self.sql.render("create_raw_schema"):
                tx.execute(statement)

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        """A read-only view; by default the same as a transaction."""
        with self.transaction() as tx:
            yield tx

    def apply(self, user_id: str, batch: Batch, now: datetime) -> dict[str, Counts]:
        """Apply one batch in one transaction; return added/updated/deleted per table."""
        return self.apply_many([(user_id, batch, now)])[0]

    def submit(self, user_id: str, batch: Batch, now: datetime) -> Future:
        """Apply now; the same shape as GroupWriter.submit for callers that don't mind."""
        done: Future = Future()
        try:
            done.set_result(self.apply(user_id, batch, now))
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future
            done.set_exception(exc)
        return done

    def apply_many(self, items: list[tuple[str, Batch, datetime]]) -> list[dict[str, Counts]]:
        """Apply several users' batches in one transaction, each table written in one go.

        Each batch still lands whole, with the stream states that cover it; the batches only
        share the commit (and the staging), which is where the time goes.
        """
        counts: list[dict[str, Counts]] = [{} for _ in items]
        with self.transaction() as tx:
            tables = list(dict.fromkeys(t for _, batch, _ in items for t, rows in batch.rows.items() if rows))
            for table in tables:
                self._upsert(tx, table, items, counts)
            for (user_id, batch, now), result in zip(items, counts):
                for tomb in batch.tombstones:
                    if tomb.ids:
                        result.setdefault(tomb.table, Counts()).deleted += tx.update(
                            self.sql.render("tombstone", table=tomb.table, column=tomb.column)[0],
                            {"now": now, "user_id": user_id, "ids": list(tomb.ids)})
                for sweep in batch.sweeps:
                    result.setdefault(sweep.table, Counts()).deleted += tx.update(
                        self.sql.render("sweep", table=sweep.table)[0],
                        {"now": now, "user_id": user_id, "before": sweep.before})
            states = {(user_id, s.stream): _state_row(user_id, s, now)
                      for user_id, batch, now in items for s in batch.states}
            if states:
                self._save_state_rows(tx, list(states.values()))
        return counts

    def _upsert(self, tx: Transaction, table: str, items: list[tuple[str, Batch, datetime]],
                counts: list[dict[str, Counts]]) -> None:
        """Write new and changed rows of every batch (staged in bulk); leave identical ones alone."""
        incoming = [(i, user_id, row) for i, (user_id, batch, _) in enumerate(items)
                    for row in batch.rows.get(table, [])]
        stored = self._stored_hashes(tx, table, [(user_id, row["id"]) for _, user_id, row in incoming])
        write: dict[tuple[str, str], dict] = {}
        for i, user_id, row in incoming:
            key = (user_id, row["id"])
            before = stored.get(key)
            result = counts[i].setdefault(table, Counts())
            if before is None:
                result.added += key not in write
            elif before != (row["_hash"], row["_deleted_at"] is None):
                result.updated += key not in write
            else:
                continue
            write[key] = row
        if write:
            columns = list(next(iter(write.values())))
            tx.stage(table, columns, list(write.values()))
            try:
                for statement in self.sql.render("upsert", table=table, columns=tuple(columns)):
                    tx.execute(statement)
            finally:
                tx.unstage()
        for user_id, batch, now in items:
            unchanged = [row["id"] for row in batch.rows.get(table, []) if (user_id, row["id"]) not in write]
            if batch.touch and unchanged:
                tx.update(self.sql.render("touch", table=table)[0],
                          {"user_id": user_id, "now": now, "ids": unchanged})

    def _stored_hashes(self, tx: Transaction, table: str, keys: list[tuple[str, str]]) -> dict:
        """What we hold for the incoming rows: Postgres looks them up by key, DuckDB scans their users."""
        if self.dialect == "postgres":
            sql = self.sql.render("stored_hashes_by_key", table=table)[0]
            params = {"user_ids": [k[0] for k in keys], "ids": [k[1] for k in keys]}
        else:
            sql = self.sql.render("stored_hashes_by_user", table=table)[0]
            params = {"user_ids": sorted({k[0] for k in keys})}
        return {(r[0], r[1]): (r[2], r[3]) for r in tx.execute(sql, params)}

    def _save_state_rows(self, tx: Transaction, rows: list[dict]) -> None:
        update, insert = self.sql.render("save_states")
        tx.stage("sync_state", list(rows[0]), rows)
        try:
            if tx.update(update) < len(rows):  # usually every stream already has its row
                tx.execute(insert)
        finally:
            tx.unstage()

    def save_states(self, user_id: str, states: list[StreamState], now: datetime) -> None:
        with self.transaction() as tx:
            self._save_state_rows(tx, [_state_row(user_id, s, now) for s in states])

    def load_state(self, user_id: str, service: str) -> dict[str, StreamState]:
        return self.load_states(user_id).get(service, {})

    def load_states(self, user_id: str) -> dict[str, dict[str, StreamState]]:
        """Every stream state of one user, by service."""
        return self.load_states_of([user_id]).get(user_id, {})

    def load_states_of(self, user_ids: list[str]) -> dict[str, dict[str, dict[str, StreamState]]]:
        """Every stream state of many users, by user and service, in one query."""
        with self.read() as tx:
            rows = tx.execute(self.sql.render("load_state")[0], {"user_ids": list(user_ids)})
        states: dict[str, dict[str, dict[str, StreamState]]] = {}
        for user_id, service, stream, cursor, *rest in rows:
            states.setdefault(user_id, {}).setdefault(service, {})[stream] = StreamState(
                stream, json.loads(cursor) if cursor else None, *rest[:4])
        return states

    def reset_state(self, user_id: str, service: str) -> None:
        with self.transaction() as tx:
            tx.execute(self.sql.render("reset_state")[0], {"user_id": user_id, "service": service})

    def purge(self, user_id: str, service: str) -> None:
        """Delete what was synced from `service` for `user_id` (the owner disconnected it and asked)."""
        tables = services.service(service).table_names
        with self.transaction() as tx:
            for statement, params in self.sql.bind("purge_service", {"user_id": user_id, "service": service},
                                                   tables=tables):
                tx.execute(statement, params)

    def live_ids(self, user_id: str, table: str, columns: tuple[str, ...] = ()) -> dict[str, tuple]:
        """Live row ids of one user's table, each with the values of `columns`."""
        with self.read() as tx:
            rows = tx.execute(self.sql.render("live_ids", table=table, columns=columns)[0], {"user_id": user_id})
        return {r[0]: tuple(r[1:]) for r in rows}

    def query(self, sql: str, params: dict | None = None) -> list[tuple]:
        """Run a statement (already in this dialect's parameter style) and return its rows."""
        with self.transaction() as tx:
            return tx.execute(sql, params)

    def param(self, name: str) -> str:
        return self.sql.param(name)


def _state_row(user_id: str, state: StreamState, now: datetime) -> dict:
    return {"user_id": user_id, "service": state.stream.split(".")[0], "stream": state.stream,
            "cursor": json.dumps(state.cursor, sort_keys=True) if state.cursor is not None else None,
            "last_success_at": state.last_success_at, "last_full_sync_at": state.last_full_sync_at,
            "blocked_until": state.blocked_until, "last_error": state.last_error, "updated_at": now}


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
