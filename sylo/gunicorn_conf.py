"""gunicorn settings for the API: `gunicorn 'api:create_app()'` from the repository root reads them
through `gunicorn.conf.py`; `sylo serve` passes `-c python:sylo.gunicorn_conf`.

gthread workers keep connections alive (agents poll; a TLS proxy in front reuses connections).
The master migrates the app DB once before forking, so workers never race to migrate.
Prometheus needs one directory shared by the workers, set before anything imports the client, which
is why this file lives outside `api/` (importing `api` imports prometheus_client).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sylo.files import private_dir
from sylo.settings import Settings

_settings = Settings()
_metrics_dir = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(Path(_settings.data_dir) / "prometheus")))

__all__ = ["child_exit", "forwarded_allow_ips", "graceful_timeout", "keepalive", "on_starting", "reuse_port",
           "threads", "timeout", "worker_class", "workers"]

workers = _settings.api_workers
worker_class = "gthread"
# Requests that write (commands) wait for the commit they share with the others in flight: with 8
# threads a worker holds every connection of a 16-connection client, and more writes share a commit.
threads = 8
keepalive = 5
timeout = 30
graceful_timeout = 10
forwarded_allow_ips = "127.0.0.1"
# Each worker listens on a socket of its own (SO_REUSEPORT), so the kernel spreads new connections
# over the workers. On one shared socket a keep-alive connection stays with whichever worker won
# the accept, and one busy worker could hold most of a client's connections.
reuse_port = True


def on_starting(_server) -> None:
    """Start with empty metrics and a migrated app DB."""
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    private_dir(_metrics_dir, tighten=True)
    from sylo.appdb import AppDB

    appdb = AppDB.from_settings(_settings)
    appdb.migrate()
    appdb.close()


def child_exit(_server, worker) -> None:
    """A dead worker's gauges must not linger in the scrape."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
