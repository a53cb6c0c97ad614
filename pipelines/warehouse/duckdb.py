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

log = logging.getLogger(__name__)
LOCK_WAIT_S = 120.0


class _DuckTransaction(Transaction):
    def __init__(self, cursor: duckdb.DuckDBPyConnection):
        self.cursor = cursor

    def execute(self, sql: str, params: dict | None = None) -> list[tuple]:
        result = self.cursor.execute(sql, params or {})
        return result.fetchall() if result.description else []

    def update(self, sql: str, params: dict | None = None) -> int:
        (count,), = self.cursor.execute(sql, params or {}).fetchall()
        return int(count)

    def stage(self, table: str, columns: list[str], rows: list[dict]) -> None:
        self.cursor.register("staged", pd.DataFrame.from_records(rows, columns=columns))

    def unstage(self) -> None:
        self.cursor.unregister("staged")


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._depth = 0
        self._lock = threading.RLock()

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
                    self._con.close()
                    self._con = None

    def _connect(self) -> duckdb.DuckDBPyConnection:
        """Open the file, waiting while another process holds DuckDB's write lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + LOCK_WAIT_S
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(self.path))
                con.execute("SET TimeZone = 'UTC'")
                return con
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                log.info("warehouse %s is locked by another process; waiting", self.path)
                time.sleep(delay)
                delay = min(1.0, delay * 2)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._lock, self.session():
            cursor = self._con.cursor()
            cursor.execute("SET TimeZone = 'UTC'")
            cursor.execute("BEGIN TRANSACTION")
            try:
                yield _DuckTransaction(cursor)
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            finally:
                cursor.close()

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
                self._depth = 0
