"""What an operator needs: `/healthz` with a status per dependency, and `/metrics` for Prometheus.

Under gunicorn each worker is its own process, so metrics use prometheus-client's multiprocess
mode when `PROMETHEUS_MULTIPROC_DIR` is set (`gunicorn.conf.py` sets it up); the scrape then
sums every worker.
"""

from __future__ import annotations

import os
import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess
from prometheus_client.core import CounterMetricFamily
from sqlalchemy import text

from sylo.commands import health as delivery_health

bp = Blueprint("ops", __name__)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter("sylo_http_requests_total", "HTTP requests answered, by route, method and status.",
                   ["route", "method", "status"])
LATENCY = Histogram("sylo_http_request_duration_seconds", "Time to answer, by route and method.",
                    ["route", "method"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))


@bp.get("/healthz")
def healthz() -> Response:
    """Check the export folder, the app DB and Redis (when configured); 503 if any fails. n8n (when
    configured) failing again and again makes the status `degraded`, still 200: documents and MCP
    reads are served and commands wait in the outbox."""
    sylo = current_app.extensions["sylo"]
    checks = {"export_dir": _check(lambda: _export_readable(sylo.settings.exports)),
              "app_db": _check(lambda: _app_db_answers(sylo.appdb))}
    if sylo.settings.redis_url:
        checks["redis"] = _check(lambda: sylo.redis().ping())
    healthy = all(check["status"] == "ok" for check in checks.values())
    if sylo.settings.n8n_url or sylo.settings.n8n_routes:
        checks["n8n"] = _n8n_check(sylo)
    degraded = healthy and checks.get("n8n", {}).get("status", "ok") != "ok"
    body = {"status": "degraded" if degraded else "ok" if healthy else "failing", "version": sylo.version,
            "checks": checks}
    response = current_app.json.response(body)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text exposition of request counts and latencies, and of deliveries to n8n."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        data = generate_latest(registry)
    else:
        data = generate_latest()
    deliveries = CollectorRegistry()
    deliveries.register(DeliveryCollector(current_app.extensions["sylo"].appdb.engine))
    return Response(data + generate_latest(deliveries), content_type=CONTENT_TYPE_LATEST,
                    headers={"Cache-Control": "no-store"})


class DeliveryCollector:
    """Delivery attempts to n8n by outcome and cause, read from the app DB: the worker processes that
    deliver have no /metrics of their own, and the counts survive restarts."""

    def __init__(self, engine):
        self.engine = engine

    def collect(self):
        family = CounterMetricFamily("sylo_command_deliveries", "Delivery attempts to n8n by outcome "
                                     "(delivered, running, retry, failed) and cause (ok or why it failed).",
                                     labels=["outcome", "cause"])
        for outcome, cause, count in delivery_health.counts(self.engine):
            family.add_metric([outcome, cause], count)
        yield family


def instrument(app: Flask) -> None:
    """Time every request and count it under its route template (never the raw path) and a known method.

    Every label value comes from a fixed set (routes, methods, statuses Sylo answers), so no
    request can add a time series: unknown routes are `unmatched`, unknown methods `other`."""

    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def record(response: Response) -> Response:
        observe(request.url_rule.rule if request.url_rule else "unmatched", request.method, response.status_code,
                time.perf_counter() - g.get("started", time.perf_counter()))
        return response


_children: dict[tuple, tuple] = {}  # labelled metric children, looked up once per label set


def observe(route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request and its time; shared by Flask and the fast path (api/fastpath.py)."""
    key = (route, method if method in METHODS else "other", status)  # a caller picks the method: bound it
    pair = _children.get(key)
    if pair is None:
        pair = _children[key] = (REQUESTS.labels(key[0], key[1], str(key[2])), LATENCY.labels(key[0], key[1]))
    pair[0].inc()
    pair[1].observe(seconds)


def _check(probe) -> dict:
    started = time.perf_counter()
    try:
        probe()
    except Exception as error:  # a health check reports failures, it does not raise them
        return {"status": "failing", "error": type(error).__name__ + ": " + _first_line(error)}
    return {"status": "ok", "ms": round((time.perf_counter() - started) * 1000, 2)}


def _n8n_check(sylo) -> dict:
    """Repeated failures of one kind (auth, misconfiguration, unreachable...) in plain words."""
    try:
        current = delivery_health.current(sylo.appdb.engine)
    except Exception as error:  # the app DB check reports that
        return {"status": "unknown", "error": type(error).__name__}
    if current is None:
        return {"status": "ok", "detail": "nothing delivered yet"}
    return current.check(sylo.settings)


def _export_readable(path) -> None:
    if not path.is_dir():
        raise FileNotFoundError(f"export folder {path} does not exist yet (run the pipeline)")
    os.listdir(path)


def _app_db_answers(appdb) -> None:
    with appdb.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _first_line(error: Exception) -> str:
    """Short, and free of connection strings: drivers sometimes echo the URL, password included."""
    line = str(error).splitlines()[0] if str(error) else ""
    return line if "://" not in line else "connection failed"
