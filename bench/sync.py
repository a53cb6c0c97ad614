"""Sync benchmark: N users × about 1,000 records each, through the sandbox over loopback HTTP.

Prints: initial sync records/s; the ceiling (the same pages fetched and parsed, nothing
written) and the ratio; an incremental sync after 1% of records changed, as a fraction of the
initial time; peak RSS of the syncing process at 1× and 4× the records.

    .venv/bin/python bench/sync.py [--users 100] [--scale 3.6] [--skip-4x]

The sandbox runs as its own process (`sylo sandbox`), each phase in a fresh child process so its
peak RSS is its own. Targets (issue 18): initial ≥ 85% of the ceiling (target 1); peak RSS at 4×
within 1.1× of 1× (target 6). The incremental pass is compared with dlt's in bench/vs_dlt.py
(target 3); here it is printed as a fraction of the initial sync, for the record.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SYLO = str(Path(sys.executable).with_name("sylo"))


@contextmanager
def sandbox(users: int, scale: float, key: str):
    """Serve `sylo sandbox` in its own process; yield its URL."""
    env = {**os.environ, "SYLO_NANGO_SECRET_KEY": key, "SYLO_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([SYLO, "sandbox", "--port", "0", "--users", str(users), "--seed", "1",
                                "--scale", str(scale), "--now", "2026-11-25T09:00:00Z"],
                               stdout=subprocess.PIPE, text=True, env=env)
    try:
        url = re.search(r"on (http://\S+)", process.stdout.readline()).group(1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child(phase: str, url: str, key: str, warehouse: str, server_pid: int) -> dict:
    """Run one phase in a fresh interpreter; it prints a JSON line of figures."""
    server_before = cpu_seconds(server_pid)
    out = subprocess.run([sys.executable, __file__, "--phase", phase, "--url", url, "--key", key,
                          "--warehouse", warehouse], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"phase {phase} failed:\n{out.stderr[-3000:]}")
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    figures["server_cpu_s"] = cpu_seconds(server_pid) - server_before
    return figures


def run_phase(phase: str, url: str, key: str, warehouse_path: str) -> dict:
    """Inside the child: sync every sandbox user once and report time, records and peak RSS."""
    from bench.null_warehouse import NullWarehouse
    from sylo.nango.client import NangoClient
    from pipelines.sync.retry import RetryPolicy
    from pipelines.sync import SyncSettings
    from pipelines.sync.runner import sync_users
    from pipelines.warehouse import open_warehouse

    client = NangoClient(url, key)
    users = [u["user_id"] for u in httpx.get(url + "/_sandbox", timeout=60).json()["users"]]
    warehouse = NullWarehouse() if phase == "ceiling" else open_warehouse(f"duckdb:///{warehouse_path}", ROOT)
    warehouse.ensure_schema()
    started, cpu_started = time.perf_counter(), time.process_time()
    results = sync_users(users, client=client, warehouse=warehouse, settings=SyncSettings(), policy=RetryPolicy(),
                         workers=int(os.environ.get("SYLO_SYNC_WORKERS", "4")))
    seconds = time.perf_counter() - started
    outcomes = [o for outs in results.values() for o in outs]
    failed = [o.message for o in outcomes if o.status != "ok"]
    records = sum(c.added + c.updated + c.deleted for o in outcomes for c in o.counts.values())
    if phase == "ceiling":
        records = warehouse.rows_seen
    return {"phase": phase, "seconds": seconds, "records": records, "users": len(users), "failed": failed[:3],
            "requests": sum(o.stats.requests for o in outcomes), "client_cpu_s": time.process_time() - cpu_started,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(users: int, scale: float, with_incremental: bool) -> dict:
    """The 1x run measures everything; the 4x run only the initial sync's peak memory."""
    key = str(uuid.uuid4())
    with tempfile.TemporaryDirectory() as tmp, sandbox(users, scale, key) as (url, pid):
        info = httpx.get(url + "/_sandbox", timeout=120).json()
        per_user = sum(u["records"] for u in info["users"]) / len(info["users"])
        path = str(Path(tmp) / "warehouse.duckdb")
        figures = {"records_per_user": per_user}
        if with_incremental:
            figures["ceiling"] = child("ceiling", url, key, path, pid)
        figures["initial"] = child("initial", url, key, path, pid)
        if with_incremental:
            passes = []
            for _ in range(3):  # each after its own 1% change batch; the median damps this VM's noise
                changed = httpx.post(url + "/_sandbox/changes", json={"fraction": 0.01}, timeout=120).json()
                passes.append(child("incremental", url, key, path, pid))
                passes[-1]["changed"] = sum(len(c) for c in changed["changes"].values())
            figures["incremental_passes"] = [round(p["seconds"], 2) for p in passes]
            figures["incremental"] = sorted(passes, key=lambda p: p["seconds"])[1]
            figures["changed"] = figures["incremental"]["changed"]
        return figures


def report(one: dict, four: dict | None) -> dict:
    ceiling, initial = one["ceiling"], one["initial"]
    ceiling_rate = ceiling["records"] / ceiling["seconds"]
    initial_rate = initial["records"] / initial["seconds"]
    summary = {
        "users": initial["users"], "records_per_user": round(one["records_per_user"]),
        "initial_records": initial["records"], "initial_s": round(initial["seconds"], 2),
        "initial_records_per_s": round(initial_rate), "ceiling_records_per_s": round(ceiling_rate),
        "initial_vs_ceiling": round(initial_rate / ceiling_rate, 3),
        "changed_records": one.get("changed"), "incremental_s": round(one["incremental"]["seconds"], 2),
        "incremental_vs_initial": round(one["incremental"]["seconds"] / initial["seconds"], 4),
        "incremental_passes_s": one["incremental_passes"],
        "requests_initial": initial["requests"], "requests_incremental": one["incremental"]["requests"],
        "peak_rss_mb_1x": round(initial["peak_rss_mb"], 1),
        "cpu_s": {phase: {"client": round(one[phase]["client_cpu_s"], 1), "sandbox": round(one[phase]["server_cpu_s"], 1)}
                  for phase in ("ceiling", "initial", "incremental")},
    }
    if four:
        summary.update(records_per_user_4x=round(four["records_per_user"]),
                       peak_rss_mb_4x=round(four["initial"]["peak_rss_mb"], 1),
                       rss_4x_vs_1x=round(four["initial"]["peak_rss_mb"] / initial["peak_rss_mb"], 2),
                       initial_records_per_s_4x=round(four["initial"]["records"] / four["initial"]["seconds"]))
    for phase in (one["ceiling"], initial, one["incremental"], *(four and [four["initial"]] or [])):
        if phase["failed"]:
            summary.setdefault("failures", []).extend(phase["failed"])
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--scale", type=float, default=3.6, help="sandbox scale giving about 1,000 records per user")
    parser.add_argument("--skip-4x", action="store_true", help="skip the 4× run (peak RSS growth)")
    parser.add_argument("--phase")
    parser.add_argument("--url")
    parser.add_argument("--key")
    parser.add_argument("--warehouse")
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(run_phase(args.phase, args.url, args.key, args.warehouse)))
        return
    one = measure(args.users, args.scale, with_incremental=True)
    four = None if args.skip_4x else measure(args.users, args.scale * 4, with_incremental=False)
    summary = report(one, four)
    print(f"{summary['users']} users x {summary['records_per_user']} records through the sandbox (loopback HTTP)")
    print(f"  initial sync      {summary['initial_records']} records in {summary['initial_s']} s = "
          f"{summary['initial_records_per_s']} records/s ({summary['requests_initial']} requests)")
    print(f"  ceiling (no writes)                    {summary['ceiling_records_per_s']} records/s")
    met = "met" if summary["initial_vs_ceiling"] >= 0.85 else "MISSED"
    print(f"  initial / ceiling {summary['initial_vs_ceiling']:.1%}   (target >= 85%: {met})")
    print(f"  incremental       {summary['changed_records']} changes, {summary['incremental_s']} s, "
          f"{summary['requests_incremental']} requests = {summary['incremental_vs_initial']:.2%} of initial "
          f"(median of passes {summary['incremental_passes_s']} s)")
    print(f"  peak RSS          {summary['peak_rss_mb_1x']} MB at 1x", end="")
    if four:
        print(f", {summary['peak_rss_mb_4x']} MB at 4x ({summary['records_per_user_4x']} records/user): "
              f"{summary['rss_4x_vs_1x']}x (target <= 1.1x: {'met' if summary['rss_4x_vs_1x'] <= 1.1 else 'MISSED'})")
    else:
        print()
    print("  CPU seconds       " + ", ".join(f"{phase}: client {c['client']} / sandbox {c['sandbox']}"
                                             for phase, c in summary["cpu_s"].items()))
    if summary.get("failures"):
        print("  FAILURES:", summary["failures"][:3])
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "sync.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
