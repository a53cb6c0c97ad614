"""Postgres, for when one machine is not enough. Rows arrive by COPY into a temporary staging
table, then the same statements as DuckDB swap them in. A small pool gives each thread its own
connection.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from pipelines.warehouse import Transaction, Warehouse


class _PgTransaction(Transaction):
    def __init__(self, cursor: psycopg.Cursor, sql):
        self.cursor = cursor
        self.sql = sql

    def execute(self, sql: str, params: dict | None = None) -> list[tuple]:
        self.cursor.execute(sql, params)
        return self.cursor.fetchall() if self.cursor.description else []

    def column_names(self) -> list[str]:
        return [column.name for column in self.cursor.description or []]

    def update(self, sql: str, params: dict | None = None) -> int:
        self.cursor.execute(sql, params)
        return self.cursor.rowcount

    def stage(self, table: str, columns: list[str], rows: list[dict]) -> None:
        self.cursor.execute(self.sql.render("create_staged", table=table)[0])
        with self.cursor.copy(self.sql.render("copy_staged", columns=tuple(columns))[0]) as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])

    def unstage(self) -> None:
        self.cursor.execute(self.sql.render("drop_staged")[0])


# pg_advisory_xact_lock's key for creating and replacing relations: Postgres's CREATE (TABLE, VIEW,
# SCHEMA) is not safe against a concurrent CREATE of the same name, which fails on a catalog index.
DDL_LOCK = 0x5_7100_0DD1


class PostgresWarehouse(Warehouse):
    dialect = "postgres"

    def take_ddl_turn(self, tx: Transaction) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(%(key)s)", {"key": DDL_LOCK})

    def __init__(self, url: str, pool_size: int = 8):
        super().__init__()
        self.url = url.replace("postgresql+psycopg://", "postgresql://")
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(pool_size)

    def __repr__(self) -> str:
        return "PostgresWarehouse(<url hidden>)"

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._slots:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = psycopg.connect(self.url, autocommit=True)
            try:
                with conn.transaction(), conn.cursor() as cursor:
                    cursor.execute("SET LOCAL TIME ZONE 'UTC'")
                    yield _PgTransaction(cursor, self.sql)
            except BaseException:
                if conn.closed or conn.broken:
                    conn = None
                raise
            finally:
                if conn is not None and not conn.closed:
                    self._idle.put(conn)

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
