"""From marts to files: build each user's documents, and export them unless nothing changed."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sylo import mcp_configs
from pipelines.documents.build import build_documents, load
from pipelines.documents.diff import changes, fingerprint
from pipelines.documents.export import Exporter
from pipelines.documents.render import TEMPLATES_DIGEST, to_json, to_markdown, to_yaml
from pipelines.warehouse import Warehouse
from sylo.export_layout import CLIENTS, FORMATS, ExportLayout

CHUNK = 200  # users whose marts are read in one go


@dataclass(frozen=True)
class PublishSettings:
    public_url: str
    token_budget: int = 8000
    stale_after: timedelta = timedelta(hours=6)


@dataclass
class Published:
    user_id: str
    written: list[str]
    unchanged: bool

    @property
    def files_written(self) -> int:
        return len(self.written)


def publish(warehouse: Warehouse, exporter: Exporter, user_ids: list[str], *, as_of: datetime,
            settings: PublishSettings, connections: dict[str, dict[str, str]] | None = None,
            on_done: Callable[[Published], None] | None = None, workers: int = 1,
            inputs: dict[str, str] | None = None) -> list[Published]:
    """Export the users' documents and MCP configs; users whose inputs did not change keep their files.

    `inputs` are digests of what each user's documents were built from; each manifest records its
    own, so the next run can tell an export that fell behind (pipelines/export_inputs.py).

    With `workers` > 1 and enough users, rendering runs in that many processes (it is CPU-bound
    Python); this process only reads the marts, so the warehouse never leaves it.
    """
    config_files = {f"mcp/{client}.json": mcp_configs.render(client, settings.public_url) for client in CLIENTS}
    salt = f"{TEMPLATES_DIGEST}|{settings.public_url}|{settings.token_budget}"
    jobs = ((exporter.layout.root, user_id, data, as_of, settings, config_files, salt,
             (connections or {}).get(user_id), (inputs or {}).get(user_id)) for user_id, data in _chunks(warehouse, user_ids))
    if workers > 1 and len(user_ids) >= PARALLEL_FROM:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = _collect(pool.map(_publish_job, jobs, chunksize=8), on_done)
    else:
        results = _collect(map(_publish_job, jobs), on_done)
    return results


PARALLEL_FROM = 40  # users; below this, starting processes costs more than it saves


def _chunks(warehouse: Warehouse, user_ids: list[str]):
    for start in range(0, len(user_ids), CHUNK):
        chunk = user_ids[start:start + CHUNK]
        data = load(warehouse, chunk)
        for user_id in chunk:
            yield user_id, data[user_id]


def _collect(results, on_done: Callable[[Published], None] | None) -> list[Published]:
    collected = []
    for result in results:
        collected.append(result)
        if on_done:
            on_done(result)
    return collected


def _publish_job(job: tuple) -> Published:
    root, user_id, data, as_of, settings, config_files, salt, connections, inputs = job
    return _publish_user(Exporter(ExportLayout(root)), user_id, data, as_of, settings, config_files, salt, connections,
                         inputs)


def _publish_user(exporter: Exporter, user_id: str, data, as_of: datetime, settings: PublishSettings,
                  config_files: dict[str, bytes], salt: str, connections: dict[str, str] | None,
                  inputs: str | None = None) -> Published:
    docs = build_documents(user_id, data, as_of, settings.stale_after, connections)
    stamps = {kind: fingerprint({kind: doc}, salt) for kind, doc in docs.items()}
    stamp = fingerprint(docs, salt)
    manifest = exporter.manifest(user_id)
    complete = bool(manifest) and exporter.complete(user_id, manifest)
    if complete and manifest.get("fingerprint") == stamp:
        if inputs and manifest.get("inputs") != inputs:
            exporter.record_inputs(user_id, manifest, inputs)
        return Published(user_id, [], unchanged=True)
    # A kind whose content did not change keeps its files as they are (bytes, as_of, changes and
    # ETag): a Gmail change rewrites the mail documents and the briefing, not the books.
    before = (manifest or {}).get("fingerprints", {}) if complete else {}
    files = dict(config_files)
    for kind, doc in docs.items():
        if before.get(kind) == stamps[kind]:
            files.update({name: exporter.read(user_id, name) for name in (f"context/{kind}.{fmt}" for fmt in FORMATS)})
            continue
        data = doc.model_dump(mode="json")
        doc.changes = changes(kind, data, exporter.previous_document(user_id, kind))
        data["changes"] = doc.changes.model_dump(mode="json") if doc.changes else None
        rendered = {"json": to_json(data), "yaml": to_yaml(data), "md": to_markdown(doc, settings.token_budget)}
        files.update({f"context/{kind}.{fmt}": rendered[fmt] for fmt in FORMATS})
    result = exporter.write_user(user_id, files, stamp, as_of, inputs, fingerprints=stamps)
    return Published(user_id, result.written, unchanged=not result.written)
