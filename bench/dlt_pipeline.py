"""dlt's side of `bench/vs_dlt.py`: the same users, endpoints and Nango proxy, loaded by dlt's `rest_api` source.

Runs in its own virtual environment (`bench/.venv-dlt`, made by vs_dlt.py) and imports nothing
from Sylo. Two commands, each printing one JSON line last:

    VS_DLT_NANGO_KEY=... python bench/dlt_pipeline.py run --url URL --workdir DIR
    python bench/dlt_pipeline.py dump --workdir DIR

`run` loads every end user Nango knows into `DIR/dlt.duckdb` (dataset `raw`); the first run is the
full load, later runs are incremental from dlt's own state in `DIR/pipelines`. `dump` prints the
live ids (and a version field) of every table, for the correctness check against the sandbox.

The configuration is dlt's best as we read its documentation (dlt >= 1.22):
- one `rest_api` source; each user contributes its own resources (names suffixed with the user's
  index, so each keeps its own incremental state), loaded into shared tables keyed by
  (user_id, id); `max_table_nesting=0` (nested lists stay JSON, no child tables); every resource
  extracted in parallel (`parallelized=True` on the source and on the dependent resources);
- every request goes through Nango's proxy with `Connection-Id`, `Provider-Config-Key` and the
  secret key; provider headers travel as `Nango-Proxy-*`;
- Gmail: the first run lists messages (500 a page, the maximum) and reads each with
  `messages.get?format=metadata`; later runs read `history.list` from the historyId taken from the
  profile before the first listing (dlt's incremental cursor on the history record id), re-read the
  messages the history touched, and hard-delete messages that were deleted (a second history
  resource emits their ids), trashed or marked spam (`hard_delete` column hint);
- Asana: workspaces -> projects (replaced on every run: a full listing, so deleted projects go) ->
  tasks of each project with `modified_since` as dlt's incremental cursor (one per user: rest_api
  cannot keep one per project). Deleted tasks are invisible to polling and stay;
- Xero: Contacts (archived included) and Invoices, 100 a page, the tenant header from the
  connection's `connection_config.tenant_id` (read once per user outside dlt) and
  `If-Modified-Since` as the incremental cursor; archived contacts and deleted or voided invoices
  are hard-deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

# dlt reads its configuration from the environment; set it before dlt is imported.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")

import dlt  # noqa: E402
import requests  # noqa: E402
from dlt.sources.rest_api import rest_api_source  # noqa: E402

GMAIL, ASANA, XERO = "google-mail", "asana", "xero"
GMAIL_HEADERS = ["From", "To", "Subject", "Date"]
PROJECT_FIELDS = "name,archived,notes,owner.name,start_on,due_on,created_at,modified_at,permalink_url,workspace"
TASK_FIELDS = ("name,completed,completed_at,due_on,assignee.name,created_at,modified_at,permalink_url,"
               "memberships.project,memberships.section.name")
ASANA_PAGES = {"type": "cursor", "cursor_path": "next_page.offset", "cursor_param": "offset"}
GMAIL_PAGES = {"type": "cursor", "cursor_path": "nextPageToken", "cursor_param": "pageToken"}
XERO_PAGES = {"type": "page_number", "base_page": 1, "page_param": "page", "total_path": "pagination.pageCount"}
XERO_DATE = re.compile(r"^/Date\((-?\d+)")
TABLES = {"gmail_messages": "id", "asana_projects": "gid", "asana_tasks": "gid", "xero_contacts": "id",
          "xero_invoices": "id"}
VERSIONS = {"gmail_messages": "label_ids", "asana_tasks": "modified_at", "xero_contacts": "updated_date_utc",
            "xero_invoices": "updated_date_utc"}


# -- users, read from Nango once (as Sylo does) ----------------------------------------------------


def nango(url: str, key: str, path: str, *, params: dict | None = None, headers: dict | None = None):
    """GET one of Nango's endpoints (or a proxied one) with the secret key; return its JSON."""
    response = requests.get(f"{url}{path}", params=params, timeout=60,
                            headers={"Authorization": f"Bearer {key}", **(headers or {})})
    response.raise_for_status()
    return response.json()


def discover(url: str, key: str) -> dict[str, dict]:
    """Each end user's connections, Xero tenant and Gmail historyId (before the first listing)."""
    users: dict[str, dict] = {}
    for connection in nango(url, key, "/connections")["connections"]:
        user = (connection.get("tags") or {}).get("end_user_id")
        if user:
            users.setdefault(user, {})[connection["provider_config_key"]] = connection["connection_id"]

    def details(item: tuple[str, dict]) -> tuple[str, dict]:
        user, ids = item
        config = nango(url, key, f"/connections/{ids[XERO]}", params={"provider_config_key": XERO})
        profile = nango(url, key, "/proxy/gmail/v1/users/me/profile",
                        headers={"Connection-Id": ids[GMAIL], "Provider-Config-Key": GMAIL})
        return user, {**ids, "tenant": config["connection_config"]["tenant_id"],
                      "history_id": str(profile["historyId"])}

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(details, sorted(users.items())))


# -- row steps (rest_api processing_steps) ---------------------------------------------------------


def gmail_row(user: str):
    """A message as dlt loads it: the user's id, labels sorted, trash and spam marked for deletion."""
    def build(message: dict) -> dict:
        labels = message.get("labelIds") or []
        return {"user_id": user, **message, "label_ids": sorted(labels),
                "deleted": bool({"TRASH", "SPAM"} & set(labels))}
    return build


def touched(seen: set):
    """A history record -> the messages it touched, once per run (deleted ones are read and 404).

    dlt applies the incremental cursor after the processing steps, so each item carries the id of
    the history record it came from; a dependent resource reads its parent's items as pages
    (lists), so they leave as one list per record.
    """
    def each(record: dict):
        page = []
        for message in record.get("messages") or []:
            if message["id"] not in seen:
                seen.add(message["id"])
                page.append({"id": message["id"], "history_id": record["id"]})
        if page:
            yield page
    return each


def deleted_messages(user: str):
    """A history record -> deletion rows for the messages it deleted (hard-deleted by dlt)."""
    def each(record: dict):
        for entry in record.get("messagesDeleted") or []:
            yield {"user_id": user, "id": entry["message"]["id"], "deleted": True, "history_id": record["id"]}
    return each


def with_user(user: str, id_field: str | None = None, deleted=None):
    """A record with its user's id, optionally a lower-cased `id` and the hard-delete flag."""
    def build(record: dict) -> dict:
        row = {"user_id": user, **record}
        if id_field:
            row["id"] = record[id_field].lower()
        if deleted:
            row["deleted"] = deleted(record)
        return row
    return build


def xero_ms(value: str) -> int:
    """`/Date(1776297600000+0000)/` -> 1776297600000."""
    return int(XERO_DATE.match(value).group(1))


def newest_xero(values) -> str:
    """dlt's last_value_func for Xero dates: the newest instant, not the greatest string."""
    return max(values, key=xero_ms)


def xero_since(value: str) -> str:
    """The cursor as Xero's If-Modified-Since wants it (UTC, to the second)."""
    return datetime.fromtimestamp(xero_ms(value) / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def newest_history(values) -> str:
    """dlt's last_value_func for Gmail history ids: numeric, though they are strings."""
    return max(values, key=int)


# -- the source --------------------------------------------------------------------------------------


def merge_table(table: str, key: str = "id") -> dict:
    """Resource hints: load into `table`, merging on (user_id, key)."""
    return {"table_name": table, "write_disposition": "merge", "primary_key": ["user_id", key]}


HARD_DELETE = {"columns": {"deleted": {"data_type": "bool", "hard_delete": True}}}


def gmail_resources(i: int, user: str, ids: dict, first: bool) -> list[dict]:
    """The full listing on the first run; history from the stored historyId afterwards."""
    headers = {"Connection-Id": ids[GMAIL], "Provider-Config-Key": GMAIL}
    get = {"headers": headers, "params": {"format": "metadata", "metadataHeaders": GMAIL_HEADERS},
           "response_actions": [{"status_code": 404, "action": "ignore"}]}  # deleted meanwhile
    row = [{"map": gmail_row(user)}]
    if first:
        return [
            {"name": f"gmail_ids_{i}", "selected": False,
             "endpoint": {"path": "gmail/v1/users/me/messages", "headers": headers, "params": {"maxResults": 500},
                          "paginator": GMAIL_PAGES, "data_selector": "messages"}},
            {"name": f"gmail_messages_{i}", **merge_table("gmail_messages"), **HARD_DELETE, "parallelized": True,
             "endpoint": {"path": f"gmail/v1/users/me/messages/{{resources.gmail_ids_{i}.id}}", **get},
             "processing_steps": row},
        ]
    history = {"path": "gmail/v1/users/me/history", "headers": headers, "paginator": GMAIL_PAGES,
               "data_selector": "history",
               "params": {"startHistoryId": "{incremental.start_value}", "maxResults": 500},
               "incremental": {"cursor_path": "history_id", "initial_value": ids["history_id"],
                               "last_value_func": newest_history}}
    return [
        {"name": f"gmail_history_{i}", "selected": False, "endpoint": history,
         "processing_steps": [{"yield_map": touched(set())}]},
        {"name": f"gmail_changed_{i}", **merge_table("gmail_messages"), **HARD_DELETE, "parallelized": True,
         "endpoint": {"path": f"gmail/v1/users/me/messages/{{resources.gmail_history_{i}.id}}", **get},
         "processing_steps": row},
        {"name": f"gmail_deleted_{i}", **merge_table("gmail_messages"), **HARD_DELETE, "endpoint": history,
         "processing_steps": [{"yield_map": deleted_messages(user)}]},
    ]


def asana_resources(i: int, user: str, ids: dict) -> list[dict]:
    """Workspaces -> projects (replaced) -> tasks per project since the cursor (merged)."""
    headers = {"Connection-Id": ids[ASANA], "Provider-Config-Key": ASANA}
    return [
        {"name": f"asana_workspaces_{i}", "selected": False,
         "endpoint": {"path": "api/1.0/workspaces", "headers": headers, "params": {"limit": 100},
                      "paginator": ASANA_PAGES, "data_selector": "data"}},
        {"name": f"asana_projects_{i}", "table_name": "asana_projects", "write_disposition": "replace",
         "primary_key": ["user_id", "gid"],
         "endpoint": {"path": f"api/1.0/workspaces/{{resources.asana_workspaces_{i}.gid}}/projects",
                      "headers": headers, "params": {"limit": 100, "opt_fields": PROJECT_FIELDS},
                      "paginator": ASANA_PAGES, "data_selector": "data"},
         "processing_steps": [{"map": with_user(user)}]},
        {"name": f"asana_tasks_{i}", **merge_table("asana_tasks", "gid"), "parallelized": True,
         "endpoint": {"path": "api/1.0/tasks", "headers": headers, "paginator": ASANA_PAGES, "data_selector": "data",
                      "params": {"project": f"{{resources.asana_projects_{i}.gid}}", "limit": 100,
                                 "opt_fields": TASK_FIELDS, "modified_since": "{incremental.start_value}"},
                      "incremental": {"cursor_path": "modified_at", "initial_value": "1970-01-01T00:00:00.000Z"}},
         "processing_steps": [{"map": with_user(user)}]},
    ]


def xero_resources(i: int, user: str, ids: dict) -> list[dict]:
    """Contacts and Invoices modified since the cursor, with the tenant header."""
    headers = {"Connection-Id": ids[XERO], "Provider-Config-Key": XERO, "Nango-Proxy-xero-tenant-id": ids["tenant"],
               "Nango-Proxy-Accept": "application/json", "Nango-Proxy-If-Modified-Since": "{incremental.start_value}"}
    incremental = {"cursor_path": "UpdatedDateUTC", "initial_value": "/Date(0+0000)/", "last_value_func": newest_xero,
                   "convert": xero_since}
    streams = [("Contacts", "xero_contacts", "ContactID", {"includeArchived": "true"},
                lambda c: c.get("ContactStatus") in ("ARCHIVED", "GDPRREQUEST")),
               ("Invoices", "xero_invoices", "InvoiceID", {}, lambda v: v.get("Status") in ("DELETED", "VOIDED"))]
    return [
        {"name": f"{table}_{i}", **merge_table(table), **HARD_DELETE,
         "endpoint": {"path": f"api.xro/2.0/{key}", "headers": headers, "params": {"pageSize": 100, **extra},
                      "paginator": XERO_PAGES, "data_selector": key, "incremental": incremental},
         "processing_steps": [{"map": with_user(user, id_field, deleted)}]}
        for key, table, id_field, extra, deleted in streams
    ]


def source(url: str, key: str, users: dict[str, dict], first: bool):
    """One rest_api source holding every user's resources, all extracted in parallel."""
    resources = []
    for i, (user, ids) in enumerate(sorted(users.items())):
        resources += gmail_resources(i, user, ids, first) + asana_resources(i, user, ids) + xero_resources(i, user, ids)
    # The secret key as a static client header: the same request as the `bearer` auth type, without
    # resolving an auth configuration for each of the resources.
    config = {"client": {"base_url": f"{url}/proxy/", "headers": {"Authorization": f"Bearer {key}"}},
              "resources": resources}
    return rest_api_source(config, name="studios", max_table_nesting=0, parallelized=True)


def pipeline(workdir: Path):
    """dlt's pipeline: its state under `workdir/pipelines`, its data in `workdir/dlt.duckdb`."""
    return dlt.pipeline(pipeline_name="vs_dlt", pipelines_dir=str(workdir / "pipelines"),
                        destination=dlt.destinations.duckdb(str(workdir / "dlt.duckdb")), dataset_name="raw")


# -- commands ------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict:
    """Load every user once (full the first time, incremental after); time it from the first request."""
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    known = workdir / "users.json"  # connections, tenants and the Gmail start, kept beside dlt's own state
    started, cpu = time.perf_counter(), time.process_time()
    first = not known.exists()
    users = discover(args.url, args.key) if first else json.loads(known.read_text())
    discovered = time.perf_counter()
    studios = source(args.url, args.key, users, first)
    built = time.perf_counter()
    loader = pipeline(workdir)
    # jsonl load files: DuckDB loads them about 3x faster than dlt's default for DuckDB
    # (insert_values), at half the peak memory, on this data.
    loader.run(studios, loader_file_format="jsonl")
    seconds = time.perf_counter() - started
    if first:
        known.write_text(json.dumps(users))
    rows = {table: count for table, count in loader.last_trace.last_normalize_info.row_counts.items()
            if not table.startswith("_dlt")}
    steps = {"discover": discovered - started, "source": built - discovered,
             **{step.step: (step.finished_at - step.started_at).total_seconds()
                for step in loader.last_trace.steps if step.step != "run"}}
    return {"seconds": seconds, "users": len(users), "first": first, "rows": rows,
            "steps": {name: round(value, 3) for name, value in steps.items()},
            "client_cpu_s": time.process_time() - cpu, "dlt": dlt.__version__,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def plain(value):
    """A version value as JSON can carry it: timestamps as epoch milliseconds."""
    if hasattr(value, "timestamp"):
        return round(value.timestamp() * 1000)
    return value if value is None or isinstance(value, (str, int)) else str(value)


def dump(args: argparse.Namespace) -> dict:
    """Every row's (user, id, version) per table, straight from the DuckDB file dlt loaded."""
    import duckdb

    tables: dict[str, list] = {}
    with duckdb.connect(str(Path(args.workdir) / "dlt.duckdb"), read_only=True) as db:
        present = {name for (name,) in db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'").fetchall()}
        for table, id_column in TABLES.items():
            version = VERSIONS.get(table, "NULL")
            query = f"SELECT user_id, {id_column}, {version} FROM raw.{table}"
            tables[table] = [[user, record_id, plain(value)] for user, record_id, value in
                             (db.execute(query).fetchall() if table in present else [])]
    return {"tables": tables}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("run", "dump"))
    parser.add_argument("--url")
    parser.add_argument("--key", default=os.environ.get("VS_DLT_NANGO_KEY"),
                        help="Nango secret key (default: $VS_DLT_NANGO_KEY)")
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    print(json.dumps(run(args) if args.command == "run" else dump(args)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
