"""Sync many users: connections looked up once, users in parallel, services one after another."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

from sylo.nango.client import Connection, NangoClient
from pipelines.sync.retry import RetryPolicy
from pipelines.sync import SOURCES, Outcome, SyncSettings, sync_service
from pipelines.sync.engine import settle
from pipelines.warehouse import StreamState, Warehouse
from pipelines.warehouse.writer import GroupWriter
from sylo.services import service as service_info


def connections_by_user(client: NangoClient) -> dict[str, list[Connection]]:
    """Every Nango connection tagged with an end user, grouped by that user."""
    grouped: dict[str, list[Connection]] = defaultdict(list)
    for connection in client.list_connections():
        if connection.end_user_id:
            grouped[connection.end_user_id].append(connection)
    return dict(grouped)


def sync_user(user_id: str, connections: list[Connection], *, client: NangoClient,
              warehouse: Warehouse | GroupWriter, settings: SyncSettings, policy: RetryPolicy,
              services: Iterable[str] | None = None,
              states: dict[str, dict[str, StreamState]] | None = None) -> list[Outcome]:
    """Sync each of the user's services; a service without a connection is reported as skipped.

    The outcomes may still wait on their final commit: `settle` them (sync_users does).
    `states` are the user's committed stream states by service, when the caller read them already.
    """
    outcomes = []
    states = warehouse.load_states(user_id) if states is None else states
    for service, source in SOURCES.items():
        if services is not None and service not in services:
            continue
        integration = service_info(service).integration
        connection = next((c for c in connections if c.integration == integration), None)
        if connection is None:
            outcomes.append(Outcome(user_id, service, status="skipped", message="not connected"))
        elif connection.needs_reauth:
            outcomes.append(Outcome(user_id, service, status="failed", problem="reauth",
                                    message=f"Nango reports that {service}'s credentials were revoked or expired: the "
                                            "studio owner must reconnect it in the dashboard"))
        else:
            outcomes.append(sync_service(source, user_id=user_id, connection=connection, client=client,
                                         warehouse=warehouse, settings=settings, policy=policy,
                                         state=states.get(service, {})))
    return outcomes


class _Settler:
    """Reports each user once all of their final commits have landed (in whatever thread that is)."""

    def __init__(self, on_done: Callable[[str, list[Outcome]], None] | None):
        self.on_done = on_done
        self.results: dict[str, list[Outcome]] = {}
        self._lock = threading.Lock()
        self._open = 0
        self._all_done = threading.Condition(self._lock)

    def add(self, user_id: str, outcomes: list[Outcome]) -> None:
        waiting = [o for o in outcomes if o.pending is not None]
        with self._lock:
            self._open += 1
        if not waiting:
            self._finish(user_id, outcomes)
            return
        remaining = {"n": len(waiting)}

        def landed(_future) -> None:
            with self._lock:
                remaining["n"] -= 1
                last = remaining["n"] == 0
            if last:
                self._finish(user_id, outcomes)

        for outcome in waiting:
            outcome.pending.future.add_done_callback(landed)

    def _finish(self, user_id: str, outcomes: list[Outcome]) -> None:
        settled = [settle(outcome) for outcome in outcomes]
        try:
            if self.on_done:
                self.on_done(user_id, settled)
        finally:
            with self._lock:
                self.results[user_id] = settled
                self._open -= 1
                self._all_done.notify_all()

    def wait(self) -> None:
        with self._lock:
            self._all_done.wait_for(lambda: self._open == 0)


def sync_users(user_ids: list[str], *, client: NangoClient, warehouse: Warehouse, settings: SyncSettings,
               policy: RetryPolicy, workers: int = 4, services: Iterable[str] | None = None,
               on_done: Callable[[str, list[Outcome]], None] | None = None) -> dict[str, list[Outcome]]:
    """Sync users `workers` at a time; `on_done` is called as each user's sync has fully landed.

    Workers hand each service's final batch to the writer and move on, so the final batches of
    many users share a commit; a user is reported when all of theirs are durable.
    """
    connections = connections_by_user(client) if len(user_ids) > 10 else {
        user_id: client.list_connections(tags={"end_user_id": user_id}) for user_id in user_ids}
    wanted = list(services) if services is not None else None
    settler = _Settler(on_done)
    workers = min(workers, len(user_ids))
    # One user, or one worker: write straight to the warehouse. The group writer pays only when
    # several workers' batches can share a commit.
    with warehouse.session(), (GroupWriter(warehouse, linger=0.02) if workers > 1 else nullcontext(warehouse)) as writer:
        states = {}
        for start in range(0, len(user_ids), 500):  # one read for many users, not one per user
            states.update(warehouse.load_states_of(user_ids[start:start + 500]))

        def one(user_id: str) -> None:
            settler.add(user_id, sync_user(user_id, connections.get(user_id, []), client=client,
                                           warehouse=writer, settings=settings, policy=policy, services=wanted,
                                           states=states.get(user_id, {})))

        if workers <= 1:
            for user_id in user_ids:
                one(user_id)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(one, user_ids))
        settler.wait()
    return {user_id: settler.results[user_id] for user_id in user_ids}
