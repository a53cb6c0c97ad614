"""Sylo vs dlt, side by side: the same sandbox world, the same endpoints, the same Nango proxy, DuckDB.

    .venv/bin/python bench/vs_dlt.py [--users 20] [--scale 1.0] [--rounds 3] [--keep DIR]

dlt is not a dependency of Sylo: on first use this script makes its own virtual environment
(`bench/.venv-dlt`, reused afterwards) and installs `dlt[duckdb]` there with pip; dlt's side is
`bench/dlt_pipeline.py` (its `rest_api` source, configured as well as dlt allows; see its
docstring), run by that environment's Python, importing nothing from Sylo.

One sandbox (seed fixed, provider rate limits off) serves both tools from a process of its own,
counting the requests that reach Nango and its proxy. Reading changes nothing in the sandbox, so
both tools read the same world by taking turns: each round syncs both from scratch, applies one
change batch (1% of records), then runs both incrementally, and checks both warehouses against the
sandbox's ground truth. The order alternates between rounds (Sylo first, then dlt first, ...).
Every phase is a fresh child process, so its peak RSS (from `wait4`) and CPU time are its own.
Each tool times itself from its first request to its last write, imports excluded: Sylo's clock
starts once its warehouse is open (the connection lookup is inside); dlt's covers reading the
connections, building the source and `pipeline.run` (extract, normalize, load). Records/s is
the world's record count (the sandbox's own) over each tool's time, the same numerator for both.

Per round:
1. the fetch-only ceiling: Sylo's sync fetching and parsing the same pages, writing nothing;
2. the initial sync of each tool into an empty DuckDB file (Sylo: `Pipeline.sync`, i.e.
   `sync_users`; dlt: `pipeline.run`);
3. Sylo's models, documents and export are built once (not measured), and its data directory is
   copied, so the whole-process pass below starts from the same state as the sync-only pass;
4. one change batch, then each tool's incremental sync, and Sylo's whole process
   (`Pipeline(settings).run(users)`: sync + models + documents + export) on the copy;
5. the correctness check: live ids per table, stale versions, and deleted records still live.

The ratio table (medians of the rounds) is printed last; figures go to bench/results/vs_dlt.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DLT_VENV = ROOT / "bench" / ".venv-dlt"
DLT_SCRIPT = ROOT / "bench" / "dlt_pipeline.py"
DLT_REQUIREMENT = "dlt[duckdb]>=1.22,<2"  # 1.22 added `parallelized` for dependent resources
NOW = "2026-11-25T09:00:00+00:00"
KEY_ENV = "VS_DLT_NANGO_KEY"
PHASE_TIMEOUT_S = 1800
TABLES = ("gmail_messages", "asana_projects", "asana_tasks", "xero_contacts", "xero_invoices")
XERO_DATE = re.compile(r"^/Date\((-?\d+)")
PHASES = ("ceiling", "sylo_initial", "dlt_initial", "sylo_incremental", "dlt_incremental", "sylo_process")


# -- the sandbox, in a process of its own, counting the requests it is sent -----------------------


class RequestCounter:
    """WSGI middleware: counts calls to Nango's API and its proxy; `GET /_bench/requests` reports them."""

    def __init__(self, app):
        self.app = app
        self.counts: Counter = Counter()
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_bench/requests":
            with self.lock:
                body = json.dumps(dict(self.counts)).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        if not path.startswith("/_sandbox"):
            with self.lock:
                if path.startswith("/proxy/"):
                    self.counts["proxy"] += 1
                    self.counts["proxy:" + environ.get("HTTP_PROVIDER_CONFIG_KEY", "?")] += 1
                else:
                    self.counts["nango"] += 1
        return self.app(environ, start_response)


def serve(users: int, scale: float, seed: int) -> None:
    """The `--serve` mode: build the world, print the URL, serve until stdin closes."""
    from sandbox import Sandbox, SandboxConfig
    from sandbox.limits import LimitConfig
    from sandbox.server import ServerThread

    world = Sandbox(SandboxConfig(seed=seed, users=users, scale=scale, now=datetime.fromisoformat(NOW),
                                  secret_key=os.environ[KEY_ENV], limits=LimitConfig(enabled=False)))
    server = ServerThread(RequestCounter(world)).start()
    print(f"serving on {server.url}", flush=True)
    sys.stdin.read()  # the parent closes our stdin (or ends us) when the benchmark is over
    server.stop()
    world.close()


class Box:
    """The running sandbox: its URL and pid, and the admin calls the benchmark makes."""

    def __init__(self, url: str, pid: int, key: str):
        self.url, self.pid, self.key = url, pid, key
        self.http = httpx.Client(base_url=url, timeout=300)

    def info(self) -> dict:
        """The sandbox's own description: users, their record counts, limits."""
        return self.http.get("/_sandbox").json()

    def requests(self) -> Counter:
        """Calls counted so far: `proxy`, `proxy:<integration>` and `nango` (its API)."""
        return Counter(self.http.get("/_bench/requests").json())

    def change(self, fraction: float) -> int:
        """Apply one change batch; return how many changes it made."""
        response = self.http.post("/_sandbox/changes", json={"fraction": fraction})
        response.raise_for_status()
        return sum(len(changes) for changes in response.json()["changes"].values())

    def truth(self, user_id: str) -> dict:
        """The user's ground truth, deleted records included."""
        return self.http.get(f"/_sandbox/users/{user_id}/truth").json()

    def cpu_seconds(self) -> float:
        """User + system CPU the sandbox process has used so far (from /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def sandbox(users: int, scale: float, seed: int):
    """Serve the sandbox (this script's `--serve` mode) in its own process; yield a Box for it."""
    key = str(uuid.uuid4())
    env = {**os.environ, KEY_ENV: key, "PYTHONPATH": str(ROOT), "SYLO_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, __file__, "--serve", "--users", str(users), "--scale", str(scale),
                                "--seed", str(seed)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               env=env, cwd=ROOT)
    try:
        line = process.stdout.readline()
        match = re.search(r"on (http://\S+)", line)
        if not match:
            raise SystemExit(f"the sandbox did not start: {line!r}")
        box = Box(match.group(1), process.pid, key)
        yield box
        box.http.close()
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- child processes -------------------------------------------------------------------------------


def run_child(command: list[str], env: dict, cwd: Path) -> dict:
    """Run one phase in a fresh process; return the JSON line it prints last, plus its peak RSS and CPU."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=cwd)
        timer = threading.Timer(PHASE_TIMEOUT_S, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage, peak RSS included
        finally:
            timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        lines = out.read().strip().splitlines()
        if process.returncode != 0 or not lines:
            raise SystemExit(f"{' '.join(command[:4])} failed ({process.returncode}):\n{err.read()[-4000:]}")
    figures = json.loads(lines[-1])
    figures.update(wall_s=wall, peak_rss_mb=usage.ru_maxrss / 1024, client_cpu_s=usage.ru_utime + usage.ru_stime)
    return figures


def measured(box: Box, command: list[str], env: dict, cwd: Path) -> dict:
    """A child phase with the requests it made and the sandbox CPU it cost."""
    before, cpu = box.requests(), box.cpu_seconds()
    figures = run_child(command, env, cwd)
    after = box.requests()
    figures.update(requests=after["proxy"] - before["proxy"], nango_calls=after["nango"] - before["nango"],
                   sandbox_cpu_s=box.cpu_seconds() - cpu,
                   requests_by_integration={k[6:]: after[k] - before[k] for k in after if k.startswith("proxy:")
                                            and after[k] != before[k]})
    return figures


def sylo_env(box: Box, data_dir: Path) -> dict:
    """Sylo's settings for a child: only what the benchmark sets, none inherited from this shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYLO_")}
    return {**env, "PYTHONPATH": str(ROOT), "SYLO_DATA_DIR": str(data_dir), "SYLO_NANGO_URL": box.url,
            "SYLO_NANGO_SECRET_KEY": box.key, "SYLO_LOG_LEVEL": "WARNING"}


def sylo(box: Box, phase: str, data_dir: Path, users: list[str]) -> dict:
    """Run one of Sylo's phases (`ceiling`, `sync` or `process`) on `data_dir` in a fresh child."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return measured(box, [sys.executable, __file__, "--phase", phase, "--user-ids", ",".join(users)],
                    sylo_env(box, data_dir), data_dir.parent)


def dlt_env(box: Box, workdir: Path, workers: int) -> dict:
    """dlt's environment for a child: no Sylo on its path, no telemetry, its files under `workdir`."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("SYLO_")}
    return {**env, KEY_ENV: box.key, "DLT_DATA_DIR": str(workdir / ".dlt"), "RUNTIME__DLTHUB_TELEMETRY": "false",
            "RUNTIME__LOG_LEVEL": "WARNING", "EXTRACT__WORKERS": str(workers)}


def dlt(box: Box, python: Path, workdir: Path, workers: int) -> dict:
    """Run dlt's pipeline once on `workdir` (full the first time, incremental after) in a fresh child."""
    workdir.mkdir(parents=True, exist_ok=True)
    return measured(box, [str(python), str(DLT_SCRIPT), "run", "--url", box.url, "--workdir", str(workdir)],
                    dlt_env(box, workdir, workers), workdir)


# -- Sylo's phases (inside the child) ----------------------------------------------------------------


def sylo_phase(phase: str, users: list[str]) -> dict:
    """Time one Sylo phase; opening the warehouse and the Nango client is not part of it."""
    from bench.null_warehouse import NullWarehouse
    from pipelines.pipeline import Pipeline
    from pipelines.sync.retry import RetryPolicy
    from pipelines.sync.runner import sync_users
    from sylo.settings import Settings

    settings = Settings()
    pipeline = Pipeline(settings)
    client = pipeline.nango
    if phase == "ceiling":
        warehouse = NullWarehouse()
        started = time.perf_counter()
        results = sync_users(users, client=client, warehouse=warehouse, settings=pipeline.sync_settings,
                             policy=RetryPolicy(), workers=settings.sync_workers)
        seconds = time.perf_counter() - started
        outcomes = [o for outs in results.values() for o in outs]
        return {"seconds": seconds, "records": warehouse.rows_seen, "failed": _failed(outcomes),
                "sylo_requests": sum(o.stats.requests for o in outcomes)}
    pipeline.warehouse  # noqa: B018 - opened (and its schema made) before the clock starts
    if phase == "sync":
        started = time.perf_counter()
        results = pipeline.sync(users)
        seconds = time.perf_counter() - started
        outcomes = [o for outs in results.values() for o in outs]
        pipeline.close()
        return {"seconds": seconds, "failed": _failed(outcomes),
                "sylo_requests": sum(o.stats.requests for o in outcomes),
                "records": sum(c.added + c.updated + c.deleted for o in outcomes for c in o.counts.values())}
    pipeline.appdb  # noqa: B018
    started = time.perf_counter()
    report = pipeline.run(users)
    seconds = time.perf_counter() - started
    pipeline.close()
    return {"seconds": seconds, "failed": [f"{u} {s.service}: {s.message}" for u, s in report.failures][:3],
            "rebuilt": len(report.rebuilt)}


def _failed(outcomes) -> list[str]:
    """The first few failed services, as `user service: message`."""
    return [f"{o.user_id} {o.service}: {o.message}" for o in outcomes if o.status not in ("ok", "skipped")][:3]


# -- dlt's environment ---------------------------------------------------------------------------------


def dlt_python(venv: Path) -> Path:
    """The dlt environment's Python, made (with dlt installed from PyPI) on first use."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import dlt, duckdb; from dlt.sources.rest_api import rest_api_source"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"making {venv.relative_to(ROOT) if venv.is_relative_to(ROOT) else venv} and installing {DLT_REQUIREMENT} "
          "(once)...", file=sys.stderr, flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        DLT_REQUIREMENT], check=True)
        subprocess.run(probe, check=True)
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"could not make dlt's environment in {venv} ({exc}); is PyPI reachable?") from exc
    return python


def dlt_dump(python: Path, workdir: Path) -> dict:
    """dlt's live rows, read by dlt's own environment (its DuckDB may differ from ours)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    out = subprocess.run([str(python), str(DLT_SCRIPT), "dump", "--workdir", str(workdir)], capture_output=True,
                         text=True, env=env, cwd=workdir, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"reading dlt's warehouse failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["tables"]


# -- correctness against the sandbox's ground truth ----------------------------------------------------


def as_ms(value) -> int | None:
    """A timestamp in any of the shapes the three sides use, as epoch milliseconds."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    match = XERO_DATE.match(value)
    if match:
        return int(match.group(1))
    return round(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def labels(value) -> tuple:
    """A message's labels (a JSON text or a list) as a sorted tuple."""
    return tuple(sorted(json.loads(value) if isinstance(value, str) else value or []))


def expected_rows(truth: dict) -> tuple[dict[str, dict], dict[str, set]]:
    """What a converged replica holds live per table (id -> version), and the ids deleted upstream."""
    gmail, asana, xero = truth["gmail"], truth["asana"], truth["xero"]
    hidden = {"TRASH", "SPAM"}
    live = {
        "gmail_messages": {m["id"]: labels(m.get("labelIds")) for m in gmail["messages"]
                           if not m["deleted"] and not hidden & set(m.get("labelIds") or [])},
        "asana_projects": {p["gid"]: None for p in asana["projects"] if not p["deleted"]},
        "asana_tasks": {t["gid"]: as_ms(t["modified_at"]) for t in asana["tasks"] if not t["deleted"]},
        "xero_contacts": {c["ContactID"].lower(): as_ms(c["UpdatedDateUTC"]) for c in xero["contacts"]
                          if c["ContactStatus"] not in ("ARCHIVED", "GDPRREQUEST")},
        "xero_invoices": {i["InvoiceID"].lower(): as_ms(i["UpdatedDateUTC"]) for i in xero["invoices"]
                          if i["Status"] not in ("DELETED", "VOIDED")},
    }
    known = {
        "gmail_messages": {m["id"] for m in gmail["messages"]},
        "asana_projects": {p["gid"] for p in asana["projects"]},
        "asana_tasks": {t["gid"] for t in asana["tasks"]},
        "xero_contacts": {c["ContactID"].lower() for c in xero["contacts"]},
        "xero_invoices": {i["InvoiceID"].lower() for i in xero["invoices"]},
    }
    deleted = {table: known[table] - set(live[table]) for table in TABLES}
    return live, deleted


SYLO_VERSIONS = {"gmail_messages": ("label_ids",), "asana_projects": (), "asana_tasks": ("modified_at",),
                 "xero_contacts": ("updated_at",), "xero_invoices": ("updated_at",)}


def sylo_rows(data_dir: Path, users: list[str]) -> dict[str, list]:
    """Sylo's live rows per table as (user, id, version), read through its own warehouse."""
    from pipelines.warehouse import open_warehouse

    warehouse = open_warehouse(None, data_dir)
    try:
        return {table: [(user, record_id, values[0] if values else None)
                        for user in users
                        for record_id, values in warehouse.live_ids(user, table, SYLO_VERSIONS[table]).items()]
                for table in TABLES}
    finally:
        warehouse.close()


def check(truths: dict[str, dict], rows: dict[str, list]) -> dict[str, dict]:
    """Per table: live rows expected and held, missing, extra (deleted upstream yet live), stale."""
    held: dict[str, dict[str, dict]] = {table: {} for table in TABLES}
    for table, items in rows.items():
        for user, record_id, version in items:
            held[table].setdefault(user, {})[record_id] = version
    result = {}
    for table in TABLES:
        tally = Counter()
        for user, truth in truths.items():
            live, deleted = expected_rows(truth)
            want, have = live[table], held[table].get(user, {})
            normal = labels if table == "gmail_messages" else as_ms
            tally["expected"] += len(want)
            tally["live"] += len(have)
            tally["missing"] += len(want.keys() - have.keys())
            tally["extra"] += len(have.keys() - want.keys())
            tally["deleted_live"] += len(have.keys() & deleted[table])
            tally["stale"] += sum(1 for i in want.keys() & have.keys()
                                  if want[i] is not None and normal(have[i]) != want[i])
        result[table] = dict(tally)
    return result


def wrong(checked: dict) -> int:
    """Rows that differ from the truth: missing, extra or stale."""
    return sum(t["missing"] + t["extra"] + t["stale"] for t in checked.values())


# -- one round -----------------------------------------------------------------------------------------------


def one_round(number: int, box: Box, work: Path, python: Path, args: argparse.Namespace) -> dict:
    """Both tools from scratch, one change batch, both incrementally, both checked; odd rounds Sylo first."""
    here = work / f"round{number}"
    sylo_dir, copy_dir, dlt_dir = here / "sylo" / "data", here / "sylo-process" / "data", here / "dlt"
    info = box.info()
    users = [u["user_id"] for u in info["users"]]
    tools = ["sylo", "dlt"] if number % 2 else ["dlt", "sylo"]
    result: dict = {"round": number, "order": tools, "records": sum(u["records"] for u in info["users"])}
    log(f"round {number}: ceiling")
    result["ceiling"] = sylo(box, "ceiling", here / "ceiling" / "data", users)
    for tool in tools:
        log(f"round {number}: {tool} initial sync")
        result[f"{tool}_initial"] = sylo(box, "sync", sylo_dir, users) if tool == "sylo" else \
            dlt(box, python, dlt_dir, args.dlt_workers)
    log(f"round {number}: Sylo's models, documents and export (not measured)")
    result["sylo_prepare"] = sylo(box, "process", sylo_dir, users)
    shutil.copytree(sylo_dir, copy_dir)
    result["changed"] = box.change(args.fraction)
    for tool in tools:
        log(f"round {number}: {tool} incremental after {result['changed']} changes")
        if tool == "sylo":
            result["sylo_incremental"] = sylo(box, "sync", sylo_dir, users)
            result["sylo_process"] = sylo(box, "process", copy_dir, users)
        else:
            result["dlt_incremental"] = dlt(box, python, dlt_dir, args.dlt_workers)
    truths = {user: box.truth(user) for user in users}
    result["check"] = {"sylo": check(truths, sylo_rows(sylo_dir, users)),
                       "dlt": check(truths, dlt_dump(python, dlt_dir))}
    result["failures"] = {name: result[name]["failed"] for name in PHASES if result[name].get("failed")}
    for name, failed in result["failures"].items():
        log(f"  {name} reported failures (its figures are not comparable): {failed}")
    log(f"round {number}: " + ", ".join(f"{n} {result[n]['seconds']:.2f} s" for n in PHASES))
    return result


def log(message: str) -> None:
    """Progress goes to stderr; the report to stdout."""
    print(message, file=sys.stderr, flush=True)


# -- the report ----------------------------------------------------------------------------------------------


def med(rounds: list[dict], pick) -> float:
    """The median over the rounds of one figure."""
    return statistics.median(pick(r) for r in rounds)


def summarize(rounds: list[dict]) -> dict:
    """Every figure the report shows, as medians over the rounds."""
    rate = lambda phase: lambda r: r["records"] / r[phase]["seconds"]  # noqa: E731
    s = {
        "records": med(rounds, lambda r: r["records"]),
        "changed": med(rounds, lambda r: r["changed"]),
        "ceiling_rps": med(rounds, rate("ceiling")),
        "sylo_initial_rps": med(rounds, rate("sylo_initial")),
        "dlt_initial_rps": med(rounds, rate("dlt_initial")),
        "sylo_vs_ceiling": med(rounds, lambda r: r["ceiling"]["seconds"] / r["sylo_initial"]["seconds"]),
    }
    for name in ("sylo_initial", "dlt_initial", "sylo_incremental", "dlt_incremental", "sylo_process"):
        for figure in ("seconds", "requests", "peak_rss_mb", "client_cpu_s", "sandbox_cpu_s"):
            s[f"{name}_{figure}"] = med(rounds, lambda r: r[name][figure])
    for tool in ("sylo", "dlt"):  # exactness is owed after every pass: the worst round counts
        s[f"{tool}_deleted_tasks_live"] = max(r["check"][tool]["asana_tasks"]["deleted_live"] for r in rounds)
        s[f"{tool}_wrong"] = max(wrong(r["check"][tool]) for r in rounds)
    return s


def fmt(value: float, digits: int = 0) -> str:
    """A number with thousands separators."""
    return f"{value:,.{digits}f}"


def print_report(args: argparse.Namespace, rounds: list[dict], s: dict, machine: dict) -> None:
    """Per-round figures, the correctness check and the targets; the ratio table last."""
    last = rounds[-1]
    print(f"\nPer round (seconds; order alternates):")
    for r in rounds:
        print(f"  round {r['round']} ({' then '.join(r['order'])}): ceiling {r['ceiling']['seconds']:.2f}, "
              f"initial Sylo {r['sylo_initial']['seconds']:.2f} / dlt {r['dlt_initial']['seconds']:.2f}, "
              f"incremental Sylo {r['sylo_incremental']['seconds']:.2f} / dlt {r['dlt_incremental']['seconds']:.2f}, "
              f"Sylo whole process {r['sylo_process']['seconds']:.2f} ({r['changed']} changes, "
              f"{r['sylo_process'].get('rebuilt', '?')} users' documents rebuilt)")
    failures = [(r["round"], name, failed) for r in rounds for name, failed in r["failures"].items()]
    for number, name, failed in failures:
        print(f"  FAILURES in round {number}, {name}: {failed}")
    print("\nCorrectness after each incremental pass (live rows held / live rows in the sandbox's truth):")
    for r in rounds:
        for tool in ("sylo", "dlt"):
            parts = [f"{t} {c['live']}/{c['expected']}" + (f" (-{c['missing']} +{c['extra']} ~{c['stale']})"
                                                            if c["missing"] or c["extra"] or c["stale"] else "")
                     for t, c in r["check"][tool].items()]
            print(f"  round {r['round']} {tool:5} " + ", ".join(parts))
    print("  (-missing +extra ~stale; extra rows are records deleted upstream that are still live)")
    print(f"\nRequests by integration, initial (last round): Sylo {last['sylo_initial']['requests_by_integration']}, "
          f"dlt {last['dlt_initial']['requests_by_integration']}")
    print("dlt's steps (last round, seconds): " + "; ".join(
        f"{name} " + ", ".join(f"{step} {t:.2f}" for step, t in last[f"dlt_{name}"]["steps"].items())
        for name in ("initial", "incremental")))
    print(f"CPU seconds, initial (client / sandbox): Sylo {s['sylo_initial_client_cpu_s']:.1f} / "
          f"{s['sylo_initial_sandbox_cpu_s']:.1f}, dlt {s['dlt_initial_client_cpu_s']:.1f} / "
          f"{s['dlt_initial_sandbox_cpu_s']:.1f}")
    print(f"Fetch-only ceiling {fmt(s['ceiling_rps'])} records/s; Sylo's initial sync reaches "
          f"{s['sylo_vs_ceiling']:.0%} of it (target >= 85%).")
    initial = s["sylo_initial_rps"] / s["dlt_initial_rps"]
    whole = s["sylo_process_seconds"] / s["dlt_incremental_seconds"]
    print(f"Targets: initial sync >= 2x dlt: {initial:.2f}x {'met' if initial >= 2 else 'missed'}; "
          f"whole incremental process <= 0.5x dlt's incremental sync: {whole:.2f} "
          f"{'met' if whole <= 0.5 else 'missed'}; "
          f"exact after the incremental pass: Sylo {s['sylo_wrong']:.0f} rows wrong, dlt {s['dlt_wrong']:.0f}.")

    print(f"\nSylo vs dlt {machine['dlt']} (rest_api, parallelized), {args.users} users, {fmt(s['records'])} records "
          f"(scale {args.scale}, seed {args.seed}), rate limits off; median of {len(rounds)} interleaved "
          f"round{'s' if len(rounds) > 1 else ''}")
    print(f"{machine['date']} · {machine['cores']} cores ({machine['cpu']}) · load average "
          f"{machine['load_before']} before, {machine['load_after']} after · Python {machine['python']}, "
          f"DuckDB {machine['duckdb']}\n")
    rows = [
        ("initial sync, records/s", fmt(s["sylo_initial_rps"]), fmt(s["dlt_initial_rps"]), f"{initial:.2f}×"),
        ("proxied requests, initial", fmt(s["sylo_initial_requests"]), fmt(s["dlt_initial_requests"]),
         f"{s['sylo_initial_requests'] / s['dlt_initial_requests']:.2f}"),
        (f"incremental after {args.fraction:.0%} changed ({fmt(s['changed'])} changes), sync only",
         f"{s['sylo_incremental_seconds']:.2f} s", f"{s['dlt_incremental_seconds']:.2f} s",
         f"{s['sylo_incremental_seconds'] / s['dlt_incremental_seconds']:.2f}"),
        ("proxied requests, incremental", fmt(s["sylo_incremental_requests"]), fmt(s["dlt_incremental_requests"]),
         f"{s['sylo_incremental_requests'] / s['dlt_incremental_requests']:.2f}"),
        ("incremental, whole process (sync + models + documents + export)", f"{s['sylo_process_seconds']:.2f} s",
         f"{s['dlt_incremental_seconds']:.2f} s (sync only)", f"{whole:.2f}"),
        ("peak RSS, initial sync", f"{s['sylo_initial_peak_rss_mb']:.0f} MB", f"{s['dlt_initial_peak_rss_mb']:.0f} MB",
         f"{s['sylo_initial_peak_rss_mb'] / s['dlt_initial_peak_rss_mb']:.2f}"),
        ("deleted Asana tasks still live after the incremental pass (worst round)",
         fmt(s["sylo_deleted_tasks_live"]), fmt(s["dlt_deleted_tasks_live"]), "—"),
        ("rows wrong after the incremental pass: missing + extra + stale (worst round)", fmt(s["sylo_wrong"]),
         fmt(s["dlt_wrong"]), "—"),
    ]
    print("| figure | Sylo | dlt | Sylo ÷ dlt |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def machine_facts(python: Path) -> dict:
    """Date, cores, CPU, load average and the versions the figures depend on."""
    import duckdb

    version = subprocess.run([str(python), "-c", "import dlt; print(dlt.__version__)"], capture_output=True,
                             text=True).stdout.strip()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cores": os.cpu_count(), "cpu": cpu,
            "python": platform.python_version(), "duckdb": duckdb.__version__, "dlt": version,
            "load_before": " / ".join(f"{x:.2f}" for x in os.getloadavg())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--scale", type=float, default=1.0, help="sandbox scale (1.0: about 330 records per user)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fraction", type=float, default=0.01,
                        help="share of records changed before the incremental pass")
    parser.add_argument("--dlt-workers", type=int, default=8, help="dlt's extract thread pool (EXTRACT__WORKERS)")
    parser.add_argument("--dlt-venv", type=Path, default=DLT_VENV, help="dlt's virtual environment (made if missing)")
    parser.add_argument("--no-warmup", action="store_true", help="skip the unmeasured fetch-only pass before round 1")
    parser.add_argument("--keep", type=Path, help="keep every warehouse and data directory here (default: a temp dir)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--user-ids", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.users, args.scale, args.seed)
        return
    if args.phase:
        print(json.dumps(sylo_phase(args.phase, args.user_ids.split(","))))
        return

    python = dlt_python(args.dlt_venv.resolve())
    machine = machine_facts(python)
    work = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="vs-dlt-"))
    if args.keep and work.exists() and any(work.iterdir()):
        raise SystemExit(f"{work} is not empty")
    try:
        with sandbox(args.users, args.scale, args.seed) as box:
            if not args.no_warmup:  # the first reads of a fresh sandbox are slower than any later ones
                log("warm-up: one fetch-only pass (not measured)")
                sylo(box, "ceiling", work / "warmup" / "data", [u["user_id"] for u in box.info()["users"]])
            rounds = [one_round(n, box, work, python, args) for n in range(1, args.rounds + 1)]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    machine["load_after"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    summary = summarize(rounds)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "vs_dlt.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                  "machine": machine, "summary": summary, "rounds": rounds},
                                                 indent=2, default=str))
    print_report(args, rounds, summary, machine)


if __name__ == "__main__":
    main()
