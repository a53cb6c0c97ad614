"""DuckDB, the embedded default. One writer process at a time (DuckDB's rule), one writer
thread at a time inside it; the file is opened for a session and closed after it, so another
process can take its turn.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from pipelines.warehouse import Transaction, Warehouse
from sylo.files import private_dir, private_file

log = logging.getLogger(__name__)
LOCK_WAIT_S = 120.0


SMALL_BATCH = 8  # rows; binding costs ~20 µs a value, so VALUES beat a DataFrame only for a handful


class _DuckTransaction(Transaction):
    def __init__(self, cursor: duckdb.DuckDBPyConnection, sql):
        self.cursor = cursor
        self.sql = sql
        self._staged_table = False

    def execute(self, sql: str, params: dict | None = None) -> list[tuple]:
        result = self.cursor.execute(sql, params or {})
        self._description = result.description
        return result.fetchall() if result.description else []

    def column_names(self) -> list[str]:
        return [column[0] for column in self._description or []]

    def update(self, sql: str, params: dict | None = None) -> int:
        (count,), = self.cursor.execute(sql, params or {}).fetchall()
        return int(count)

    def stage(self, table: str, columns: list[str], rows: list[dict]) -> None:
        if len(rows) <= SMALL_BATCH:
            [create] = self.sql.render("create_staged", table=table)
            [fill] = self.sql.render("fill_staged", columns=tuple(columns), rows=len(rows))
            self.cursor.execute(create)
            self.cursor.execute(fill, [row[c] for row in rows for c in columns])
            self._staged_table = True
        else:
            self.cursor.register("staged", pd.DataFrame.from_records(rows, columns=columns))

    def unstage(self) -> None:
        if self._staged_table:
            self.cursor.execute(self.sql.render("drop_staged")[0])
            self._staged_table = False
        else:
            self.cursor.unregister("staged")


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._depth = 0
        self._lock = threading.RLock()
        self._readers = threading.local()
        self._reader_cursors: list[duckdb.DuckDBPyConnection] = []

    def __repr__(self) -> str:
        return f"DuckDBWarehouse({str(self.path)!r})"

    @contextmanager
    def session(self) -> Iterator["DuckDBWarehouse"]:
        with self._lock:
            if self._con is None:
                self._con = self._connect()
            self._depth += 1
        try:
            yield self
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and self._con is not None:
                    self._close_connection()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        """Open the file, waiting while another process holds DuckDB's write lock."""
        private_dir(self.path.parent)  # also makes the WAL DuckDB creates later owner-only
        deadline = time.monotonic() + LOCK_WAIT_S
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(self.path))
                private_file(self.path)  # one made before Sylo kept its files private
                con.execute("SET GLOBAL TimeZone = 'UTC'")
                return con
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                log.info("warehouse %s is locked by another process; waiting", self.path)
                time.sleep(delay)
                delay = min(1.0, delay * 2)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        # The lock makes this process's writers take turns, so they can share one connection.
        with self._lock, self.session():
            self._con.execute("BEGIN TRANSACTION")
            try:
                yield _DuckTransaction(self._con, self.sql)
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        """Reads don't queue behind writers: each thread reads through its own cursor (MVCC)."""
        with self.session():
            cursor = getattr(self._readers, "cursor", None)
            if cursor is None or getattr(self._readers, "connection", None) is not self._con:
                with self._lock:
                    cursor = self._con.cursor()
                    self._reader_cursors.append(cursor)
                self._readers.cursor, self._readers.connection = cursor, self._con
            yield _DuckTransaction(cursor, self.sql)

    def _close_connection(self) -> None:
        for cursor in self._reader_cursors:
            cursor.close()
        self._reader_cursors.clear()
        self._con.close()
        self._con = None

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._close_connection()
                self._depth = 0
