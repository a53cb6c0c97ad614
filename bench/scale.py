"""Scale benchmark: 1,000 users in the sandbox, a scheduled incremental sync through the production
processes, with nothing changed and after 1% of records changed.

Prints, per pass: wall time from the tick to the last run's end, runs launched, CPU seconds per
user (the daemon with its code server and every run process, the sandbox, and the Postgres
backends serving the deployment's databases), and where a run's time goes (queued, process
start, the op, after the op).

    .venv/bin/python bench/scale.py [--users 1000] [--scale 0.2] [--keep]

The deployment is deploy/prod.py's (dagster-daemon, dagster-webserver, gunicorn, `sylo sandbox`;
dagster-postgres, a Postgres warehouse and app DB) in a temporary home on throwaway databases.
Setup, not measured: the sandbox's studios become users, their connections are reconciled into
the app DB and their partitions added (what the connections sensor does, without its 1,000
per-user runs: its cursor is set past those events), then a first scheduled pass syncs everyone
in full ("initial"). A tick is the schedule evaluated by the code server (`scheduleDryRun`, the
UI's "Test schedule") and its run requests launched into the run queue, as the daemon's
scheduler would at :00 and :30; the daemon dequeues and launches them. Target (issue 18): the
no-change pass for 1,000 users in <= 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import psutil
import psycopg
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deploy import prod

LOCATION = {"repositoryLocationName": "", "repositoryName": "__repository__"}  # the location's name: workspace()
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
TARGET_S = 30.0  # issue 18: the scheduled no-change pass for 1,000 users
DRY_RUN = """mutation($selector: ScheduleSelector!, $timestamp: Float) {
  scheduleDryRun(selectorData: $selector, timestamp: $timestamp) {
    __typename
    ... on DryRunInstigationTick { evaluationResult { runRequests { runKey jobName runConfigYaml tags { key value } }
                                                      skipReason error { message } } }
    ... on PythonError { message }
  }
}"""
LAUNCH = """mutation($params: [ExecutionParams!]!) {
  launchMultipleRuns(executionParamsList: $params) {
    __typename
    ... on LaunchMultipleRunsResult { launchMultipleRunsResult { __typename ... on LaunchRunSuccess { run { runId } }
                                                                 ... on PythonError { message } } }
    ... on PythonError { message }
  }
}"""
SET_CURSOR = """mutation($selector: SensorSelector!, $cursor: String) {
  setSensorCursor(sensorSelector: $selector, cursor: $cursor) { __typename ... on Sensor { name } }
}"""
SCHEDULE_JOB = """query($selector: ScheduleSelector!) { scheduleOrError(scheduleSelector: $selector) {
  ... on Schedule { id pipelineName } } }"""
STOP_SCHEDULE = """mutation($id: String) { stopRunningSchedule(id: $id) { __typename
  ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } } }"""
WORKSPACE = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"""


def workspace(dagster_url: str) -> None:
    """Wait for the webserver's code location to load; remember its name."""
    for _ in range(300):
        entries = graphql(dagster_url, WORKSPACE, {})["workspaceOrError"]["locationEntries"]
        if entries and entries[0]["loadStatus"] == "LOADED":
            LOCATION["repositoryLocationName"] = entries[0]["name"]
            return
        time.sleep(1)
    raise SystemExit("the webserver's code location did not load")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def graphql(url: str, query: str, variables: dict) -> dict:
    response = httpx.post(url, json={"query": query, "variables": variables}, timeout=600)
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise SystemExit(f"GraphQL failed: {json.dumps(body)[:2000]}")
    return body["data"]


def cpu_seconds(pid: int) -> float:
    """CPU used so far by a process and all its descendants, live or already reaped."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    for process in family:
        try:
            t = process.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            pass
    return total


class PostgresBackends(threading.Thread):
    """CPU of the Postgres backends serving this deployment's databases, sampled twice a second.

    A backend's CPU between its last sample and its exit is missed; runs hold their connections
    for the whole run, so that is a fraction of a second per run.
    """

    def __init__(self, databases: list[str]):
        super().__init__(daemon=True)
        self.databases, self.stopped = databases, threading.Event()
        self.seen: dict[tuple[int, float], float] = {}

    def run(self) -> None:
        while not self.stopped.wait(0.5):
            self.sample()

    def sample(self) -> None:
        for process in psutil.process_iter(["cmdline"]):
            words = (process.info["cmdline"] or [""])[0].split()
            if words[:1] == ["postgres:"] and set(words) & set(self.databases):
                try:
                    t = process.cpu_times()
                    self.seen[(process.pid, process.create_time())] = t.user + t.system
                except psutil.NoSuchProcess:
                    pass

    def total(self) -> float:
        self.sample()
        return sum(self.seen.values())


def seed(env: dict[str, str], dagster_url: str, instance) -> int:
    """The connections sensor's work for the existing studios, minus its runs; return the users."""
    from sylo.nango.reconcile import reconcile_connections
    from sylo.nango.client import NangoClient
    from assets.partitions import users
    from sylo.appdb import AppDB

    appdb = AppDB(env["SYLO_APP_DB_URL"])
    client = NangoClient(env["SYLO_NANGO_URL"], env["SYLO_NANGO_SECRET_KEY"], timeout=120)
    try:
        reconcile_connections(appdb, client)
        events = appdb.events_after(0, limit=10**9)
    finally:
        client.close()
        appdb.close()
    user_ids = sorted({event.user_id for event in events})
    instance.add_dynamic_partitions(users.name, user_ids)
    # The bench ticks the schedule itself; the daemon's own :00 and :30 ticks would queue passes of their own.
    schedule = graphql(dagster_url, SCHEDULE_JOB, {"selector": {**LOCATION, "scheduleName": "incremental_sync_schedule"}})
    stopped = graphql(dagster_url, STOP_SCHEDULE, {"id": schedule["scheduleOrError"]["id"]})["stopRunningSchedule"]
    if stopped.get("scheduleState", {}).get("status") != "STOPPED":
        raise SystemExit(f"could not stop the schedule's own ticks: {stopped}")
    sensor = graphql(dagster_url, SET_CURSOR, {"selector": {**LOCATION, "sensorName": "connections_sensor"},
                                               "cursor": str(events[-1].id)})["setSensorCursor"]
    if sensor["__typename"] != "Sensor":
        raise SystemExit(f"could not set the connections sensor's cursor: {sensor}")
    return len(user_ids)


def tick(dagster_url: str, label: str) -> list[str]:
    """Evaluate the schedule now and queue its run requests; return the run ids."""
    selector = {**LOCATION, "scheduleName": "incremental_sync_schedule"}
    job = graphql(dagster_url, SCHEDULE_JOB, {"selector": selector})["scheduleOrError"]["pipelineName"]
    data = graphql(dagster_url, DRY_RUN, {"selector": selector, "timestamp": time.time()})["scheduleDryRun"]
    result = data.get("evaluationResult") or {}
    if not result.get("runRequests"):
        raise SystemExit(f"the schedule requested no runs: {json.dumps(data)[:2000]}")
    params = [{"selector": {**LOCATION, "jobName": request["jobName"] or job},
               "runConfigData": yaml.safe_load(request["runConfigYaml"]),
               "executionMetadata": {"tags": [*request["tags"], {"key": "sylo/bench", "value": label}]}}
              for request in result["runRequests"]]
    launched = graphql(dagster_url, LAUNCH, {"params": params})["launchMultipleRuns"]["launchMultipleRunsResult"]
    failed = [item for item in launched if item["__typename"] != "LaunchRunSuccess"]
    if failed:
        raise SystemExit(f"launching failed: {failed[:3]}")
    return [item["run"]["runId"] for item in launched]


def wait_for_runs(instance, label: str) -> list:
    """Every run of the pass (retries included) once all are finished and no retry is pending."""
    import dagster as dg

    settled_since = None
    while True:
        records = instance.get_run_records(dg.RunsFilter(tags={"sylo/bench": label}))
        done = all(r.dagster_run.status.value in FINISHED for r in records)
        failed = any(r.dagster_run.status.value == "FAILURE" for r in records)
        if done and (not failed or (settled_since and time.monotonic() - settled_since > 20)):
            return records  # a failed run gets its retry within seconds (run_retries)
        settled_since = (settled_since or time.monotonic()) if done else None
        time.sleep(1)


def phases(instance, record) -> dict:
    """Where a run's time went: queued, process start, and inside the op: syncing the batch,
    recording each user's materializations, compiling the users whose data changed."""
    import dagster as dg

    E = dg.DagsterEventType
    at: dict[str, float] = {}
    synced: list[float] = []  # when each raw table materialization was recorded
    op_metadata = {}
    kinds = {E.RUN_ENQUEUED, E.RUN_STARTING, E.RUN_START, E.STEP_START, E.STEP_OUTPUT, E.ASSET_MATERIALIZATION,
             E.STEP_SUCCESS, E.RUN_SUCCESS, E.RUN_FAILURE}
    for item in instance.get_records_for_run(record.dagster_run.run_id, of_type=kinds, limit=100_000).records:
        event, when = item.event_log_entry.dagster_event, item.event_log_entry.timestamp
        at.setdefault(event.event_type.value, when)
        if event.event_type == E.ASSET_MATERIALIZATION and event.asset_key.to_user_string() != "context_documents":
            synced.append(when)
        if event.event_type == E.STEP_OUTPUT:
            op_metadata = {k: v.value for k, v in event.step_output_data.metadata.items()}
    end = at.get(E.RUN_SUCCESS.value) or at.get(E.RUN_FAILURE.value)
    starting, op_start = at.get(E.RUN_STARTING.value, end), at.get(E.STEP_START.value, end)
    op_end = at.get(E.STEP_OUTPUT.value, end)
    synced = synced or [op_start]
    return {"queued": starting - at.get(E.RUN_ENQUEUED.value, starting),
            "process_start": at.get(E.RUN_START.value, end) - starting, "op_sync": synced[0] - op_start,
            "op_record_events": synced[-1] - synced[0], "op_compile": op_end - synced[-1],
            "after_op": end - op_end, "events": len(synced),
            "users": op_metadata.get("users", 0), "failed_syncs": op_metadata.get("failed", 0),
            "documents_refreshed": op_metadata.get("documents_rebuilt", 0)}


def sessions(deployment: prod.Deployment) -> dict[str, int]:
    """Connections each database has accepted so far (dagster-postgres opens one per storage call)."""
    with psycopg.connect(f"{deployment.postgres}/postgres") as admin:
        rows = admin.execute("SELECT datname, sessions FROM pg_stat_database WHERE datname = ANY(%s)",
                             [list(deployment.databases.values())]).fetchall()
    short = {"SYLO_WAREHOUSE_URL": "warehouse", "SYLO_APP_DB_URL": "app", "DAGSTER_PG_URL": "dagster"}
    names = {db: short.get(name, name) for name, db in deployment.databases.items()}
    return {names[db]: count for db, count in rows}


def measure(label: str, dagster_url: str, instance, pids: dict[str, int], postgres: PostgresBackends,
            deployment: prod.Deployment, users: int) -> dict:
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    postgres_before, sessions_before = postgres.total(), sessions(deployment)
    load_before = os.getloadavg()[0]
    started = time.time()
    tick(dagster_url, label)
    records = wait_for_runs(instance, label)
    ended = max(r.end_time for r in records if r.end_time)
    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    cpu["postgres"] = postgres.total() - postgres_before
    opened = {name: count - sessions_before.get(name, 0) for name, count in sessions(deployment).items()}
    runs = [phases(instance, r) for r in records]
    mean = {k: round(sum(r[k] for r in runs) / len(runs), 1)
            for k in ("queued", "process_start", "op_sync", "op_record_events", "op_compile", "after_op")}
    return {"pass": label, "wall_s": round(ended - started, 1), "runs": len(records),
            "failed_runs": sum(r.dagster_run.status.value != "SUCCESS" for r in records),
            "users_synced": sum(r["users"] for r in runs), "failed_syncs": sum(r["failed_syncs"] for r in runs),
            "documents_refreshed": sum(r["documents_refreshed"] for r in runs),
            "cpu_s": {k: round(v, 1) for k, v in cpu.items()},
            "cpu_s_per_user": round(sum(cpu.values()) / users, 3),
            "run_phases_mean_s": mean, "events_recorded": sum(r["events"] for r in runs),
            "postgres_sessions_opened": opened, "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


def deployment_for(home: Path, users: int, scale: float) -> prod.Deployment:
    suffix = uuid.uuid4().hex[:8]
    return prod.Deployment(
        home=home, databases={name: f"{db}_bench_{suffix}" for name, db in prod.DATABASES.items()},
        ports={"api": free_port(), "dagster": free_port(), "sandbox": free_port()},
        processes=("sandbox", "dagster-webserver", "api"),
        sandbox_options=("--scale", str(scale), "--seed", "1"),
        settings={"SYLO_LOG_LEVEL": "WARNING", "SYLO_API_WORKERS": "1"})


def run(args: argparse.Namespace, home: Path) -> list[dict]:
    deployment = deployment_for(home, args.users, args.scale)
    try:
        env = prod.up(deployment, sandbox_users=args.users)
        os.environ.update({"DAGSTER_HOME": env["DAGSTER_HOME"], "DAGSTER_PG_URL": env["DAGSTER_PG_URL"]})
        import dagster as dg

        instance = dg.DagsterInstance.get()
        dagster_url = f"http://127.0.0.1:{deployment.ports['dagster']}/graphql"
        workspace(dagster_url)
        users = seed(env, dagster_url, instance)
        prod.start(deployment, env, "dagster-daemon")
        pids = {name: prod.pid_of(deployment, name) for name in ("dagster-daemon", "sandbox")}
        postgres = PostgresBackends(list(deployment.databases.values()))
        postgres.start()
        results = [measure("initial", dagster_url, instance, pids, postgres, deployment, users)]
        print(json.dumps(results[-1]), flush=True)
        results.append(measure("no-change", dagster_url, instance, pids, postgres, deployment, users))
        print(json.dumps(results[-1]), flush=True)
        # The pass every half hour brings once the first incremental pass after the backfill has settled.
        results.append(measure("no-change-2", dagster_url, instance, pids, postgres, deployment, users))
        print(json.dumps(results[-1]), flush=True)
        changed = httpx.post(f"{env['SYLO_NANGO_URL']}/_sandbox/changes", json={"fraction": 0.01}, timeout=600).json()
        results.append(measure("1%-changed", dagster_url, instance, pids, postgres, deployment, users))
        results[-1]["changed_records"] = sum(len(c) for c in changed["changes"].values())
        results[-1]["changed_users"] = sum(bool(c) for c in changed["changes"].values())
        print(json.dumps(results[-1]), flush=True)
        instance.dispose()
        return results
    finally:
        for name in deployment.processes + ("dagster-daemon",):
            if prod.pid_of(deployment, name):
                prod.stop(deployment, name, signal.SIGKILL)
        if not args.keep:
            with psycopg.connect(f"{deployment.postgres}/postgres", autocommit=True) as admin:
                for db in deployment.databases.values():
                    admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def report(results: list[dict], args: argparse.Namespace) -> None:
    print(f"\n{args.users} users (sandbox scale {args.scale}), batches of {args.batch_size} per run, "
          f"{os.cpu_count()} cores, load {results[0]['load_1min'][0]} at the start")
    for r in results:
        extra = (f", {r['changed_records']} records changed for {r['changed_users']} users"
                 if "changed_records" in r else "")
        print(f"  {r['pass']:11} {r['wall_s']:7.1f} s  {r['runs']} runs ({r['failed_runs']} failed), "
              f"{r['users_synced']} users synced ({r['failed_syncs']} failed syncs), "
              f"{r['documents_refreshed']} documents refreshed{extra}")
        print(f"              CPU {r['cpu_s_per_user']} s/user ({', '.join(f'{k} {v} s' for k, v in r['cpu_s'].items())}); "
              f"mean run: " + ", ".join(f"{k} {v} s" for k, v in r["run_phases_mean_s"].items()))
        print(f"              {r['events_recorded']} materializations recorded; Postgres sessions opened: "
              + ", ".join(f"{k} {v}" for k, v in r["postgres_sessions_opened"].items()))
    no_change = next(r for r in results if r["pass"] == "no-change-2")
    verdict = "met" if no_change["wall_s"] <= TARGET_S else "MISSED"
    print(f"  no-change pass {no_change['wall_s']} s: target <= {TARGET_S} s for 1,000 users, {verdict} "
          f"(ratio {no_change['wall_s'] / TARGET_S:.2f} of the budget)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--scale", type=float, default=0.2, help="sandbox scale (1.0 is about 300 records per user)")
    parser.add_argument("--keep", action="store_true", help="keep the databases and the home (printed) afterwards")
    args = parser.parse_args()
    args.batch_size = int(os.environ.get("SYLO_SYNC_BATCH_SIZE", "100"))
    home = Path(tempfile.mkdtemp(prefix="sylo-scale-"))
    try:
        results = run(args, home)
    finally:
        if args.keep:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    report(results, args)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "scale.json").write_text(json.dumps({"users": args.users, "scale": args.scale, "passes": results}, indent=2))


if __name__ == "__main__":
    main()
