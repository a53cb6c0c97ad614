"""A warehouse that keeps nothing: the benchmark's ceiling runs the same sync with writes removed."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import datetime

from pipelines.warehouse import Batch, Counts, StreamState, Warehouse


class NullWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(self) -> None:
        super().__init__()
        self.rows_seen = 0
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self):
        raise NotImplementedError("the null warehouse runs no SQL")
        yield  # pragma: no cover

    def ensure_schema(self) -> None:
        pass

    def apply_many(self, items: list[tuple[str, Batch, datetime]]) -> list[dict[str, Counts]]:
        with self._lock:
            self.rows_seen += sum(batch.row_count for _, batch, _ in items)
        return [{} for _ in items]

    def save_states(self, user_id: str, states: list[StreamState], now: datetime) -> None:
        pass

    def load_states_of(self, user_ids: list[str]) -> dict[str, dict[str, dict[str, StreamState]]]:
        return {}

    def live_ids(self, user_id: str, table: str, columns: tuple[str, ...] = ()) -> dict[str, tuple]:
        return {}
