"""Commands benchmark: signed commands accepted per second with durable persistence, and the outbox's
drain rate to the n8n stand-in.

Prints: for `POST /v1/commands` against gunicorn (2 gthread workers, SYLO_COMMAND_WAIT_SECONDS=0,
so the pure accept path: verify, validate, commit the command and its audit entry, answer 202),
accepted/s with p50/p99 in a closed loop (the median of 3 passes, each on fresh connections: a
keep-alive connection stays with the worker that accepted it, so each pass gets its own split), then
p50/p99 paced at the target rate; the
refused count (must be 0) and the outbox's row count (every 202 durable); then `sylo worker`
draining the filled outbox into the sandbox's n8n stand-in: commands delivered per second, with a
check that the stand-in saw each exactly once; the CPU seconds each process used.

    .venv/bin/python bench/commands.py [--users 50] [--commands 2000] [--passes 3] [--connections 16]
                                       [--rate 300] [--paced-seconds 10] [--app-db postgresql://...]
                                       [--redis redis://...]

The sandbox and gunicorn run as their own processes, and so does the load generator (asyncio over
raw keep-alive sockets; every request pre-signed with a fresh timestamp before its phase starts, so
signing is in neither the server's figures nor the timed loop). The app DB is SQLite (WAL, synchronous
FULL) unless --app-db names a Postgres server, where a throwaway database is created and dropped;
with --redis the replay guard and rate limiter use Redis (without it, each worker limits in memory),
and the run's keys are deleted afterwards.
Targets (issue 18, target 5): >= 1,000 accepted/s with p99 <= 50 ms at 16 connections (the closed loop),
drain >= 500/s, every command delivered exactly once. Each is printed with its ratio to the target, and
the machine's load average before and after: other work on these 2 cores shows in every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
TARGET_ACCEPTED, TARGET_P99_MS, TARGET_DRAIN = 1000, 50.0, 500


# -- the deployment: app DB with users and secrets, the n8n stand-in, gunicorn ----------------------


@contextmanager
def app_database(server_url: str | None):
    """None for SQLite under the data dir; for a Postgres server, a fresh database dropped afterwards."""
    if server_url is None:
        yield None
        return
    import psycopg

    name = f"sylo_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def service_env(data_dir: Path, app_db_url: str | None, redis_url: str | None) -> dict[str, str]:
    """Settings shared by every process of the run (and nothing inherited from the caller's SYLO_*)."""
    from sylo.keyring import generate_entry

    env = {k: v for k, v in os.environ.items() if not k.startswith("SYLO_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(SYLO_DATA_DIR=str(data_dir), SYLO_LOG_LEVEL="WARNING", SYLO_ENCRYPTION_KEYS=generate_entry(),
               SYLO_COMMAND_WAIT_SECONDS="0", SYLO_COMMAND_RATE_LIMIT="1000000",
               SYLO_N8N_AUTH_VALUE=secrets.token_urlsafe(32),
               SYLO_N8N_SIGNING_SECRET="whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())
    if app_db_url:
        env["SYLO_APP_DB_URL"] = app_db_url
    if redis_url:
        env["SYLO_REDIS_URL"] = redis_url
    return env


def create_users(env: dict[str, str], count: int, run: str) -> list[dict]:
    """Users with a signing secret each, as `sylo users create` makes them; `run` in every id."""
    from sylo.appdb import AppDB
    from sylo.keyring import Keyring
    from sylo.settings import Settings

    settings = Settings(_env_file=None, data_dir=env["SYLO_DATA_DIR"], app_db_url=env.get("SYLO_APP_DB_URL"),
                        encryption_keys=env["SYLO_ENCRYPTION_KEYS"])
    keyring = Keyring.from_settings(settings)
    with AppDB.from_settings(settings) as appdb:
        appdb.migrate()
        return [{"user_id": f"bench-{run}-{n:04d}", "secret": appdb.create_user_with_credentials(
            f"bench-{run}-{n:04d}", f"owner{n}@studio.example", keyring).signing_secret} for n in range(count)]


@contextmanager
def sandbox(env: dict[str, str]):
    """`sylo sandbox` (the n8n stand-in inside it) in its own process; yields its URL and pid."""
    process = subprocess.Popen([str(BIN / "sylo"), "sandbox", "--port", "0", "--users", "0", "--seed", "1"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        yield re.search(r"on (http://\S+)", process.stdout.readline()).group(1), process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def gunicorn(env: dict[str, str], workers: int):
    """The API under the repository's gunicorn config; yields its URL and the master's pid."""
    from bench.serve import free_port, wait_ready

    port, log = free_port(), Path(env["SYLO_DATA_DIR"]) / "gunicorn.log"
    with log.open("w") as stderr:  # a file, not a pipe nobody reads: a full pipe would stall the workers
        process = subprocess.Popen([str(BIN / "gunicorn"), "-c", "python:sylo.gunicorn_conf", "--bind",
                                    f"127.0.0.1:{port}", "--workers", str(workers), "api:create_app()"],
                                   cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_ready(f"http://127.0.0.1:{port}/healthz", process, workers, log)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


# -- the load generator (its own process) -----------------------------------------------------------


def presign(users: list[dict], count: int, host: str, start: int) -> list[bytes]:
    """Complete HTTP requests, each a new command with its own webhook-id, signed now."""
    from sylo.commands.signing import sign

    requests = []
    for n in range(start, start + count):
        user = users[n % len(users)]
        body = json.dumps({"action": "asana.create_task", "params": {
            "project_gid": str(1200 + n % 97), "name": f"Send the Harbour Road drawings, part {n}"}}).encode()
        headers = {"Host": host, "Content-Type": "application/json", "Content-Length": str(len(body)),
                   "X-Sylo-User": user["user_id"], **sign(user["secret"], f"msg_{uuid.uuid4().hex}", body)}
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        requests.append(f"POST /v1/commands HTTP/1.1\r\n{head}\r\n".encode() + body)
    return requests


async def exchange(connection, request: bytes) -> int:
    """Send one request on a keep-alive connection and read the whole answer; its status."""
    reader, writer = connection
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(int(re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head).group(1)))
    return int(head[9:12])


async def closed_loop(address: tuple[str, int], requests: list[bytes], connections: int) -> dict:
    """Each connection sends its next request as soon as the last is answered."""
    pending, latencies, statuses = iter(requests), [], Counter()
    opened = [await asyncio.open_connection(*address) for _ in range(connections)]

    async def client(connection) -> None:
        for request in pending:
            sent = time.perf_counter()
            statuses[await exchange(connection, request)] += 1
            latencies.append(time.perf_counter() - sent)
        connection[1].close()

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in opened))
    return figures(time.perf_counter() - started, latencies, statuses)


async def paced(address: tuple[str, int], requests: list[bytes], rate: float, connections: int) -> dict:
    """Requests fall due at a fixed rate; latency counts from when each was due, so queueing shows."""
    idle: asyncio.Queue = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await asyncio.open_connection(*address))
    latencies, statuses = [], Counter()
    started = time.perf_counter() + 0.05

    async def one(n: int, request: bytes) -> None:
        due = started + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        connection = await idle.get()
        statuses[await exchange(connection, request)] += 1
        latencies.append(time.perf_counter() - due)
        idle.put_nowait(connection)

    await asyncio.gather(*(one(n, r) for n, r in enumerate(requests)))
    return figures(time.perf_counter() - started, latencies, statuses)


def figures(seconds: float, latencies: list[float], statuses: Counter) -> dict:
    ordered = sorted(latencies)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000
    return {"seconds": seconds, "requests": len(ordered), "statuses": {str(k): v for k, v in statuses.items()},
            "p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": ordered[-1] * 1000}


def run_load(args) -> dict:
    """Inside the child: warm up, pre-sign the phase's commands, then time them."""
    users = json.loads(Path(args.users_file).read_text())
    host, port = args.url.removeprefix("http://").split(":")
    address = (host, int(port))
    warmup = presign(users, args.warmup, f"{host}:{port}", start=args.first)
    warm = asyncio.run(closed_loop(address, warmup, 4))
    requests = presign(users, args.count, f"{host}:{port}", start=args.first + args.warmup)
    cpu = time.process_time()
    if args.phase == "closed":
        result = asyncio.run(closed_loop(address, requests, args.connections))
    else:
        result = asyncio.run(paced(address, requests, args.rate, args.connections))
    return {**result, "warmup": args.warmup, "warmup_statuses": warm["statuses"],
            "client_cpu_s": time.process_time() - cpu}


def load(phase: str, url: str, users_file: Path, server_pid: int, *, first: int, count: int, connections: int,
         rate: float = 0, warmup: int = 200) -> dict:
    """Run one load phase in a fresh interpreter; it prints a JSON line of figures."""
    from bench.serve import busy_seconds, cpu_seconds

    before, ours, machine = cpu_seconds(server_pid), own_cpu_seconds(), busy_seconds()
    process = subprocess.Popen([sys.executable, __file__, "--phase", phase, "--url", url, "--users-file",
                                str(users_file), "--first", str(first), "--count", str(count), "--warmup",
                                str(warmup), "--connections", str(connections), "--rate", str(rate)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    split: list[int] = []
    while process.poll() is None:  # keep-alive pins a connection to a worker: the fullest sample shows the split
        time.sleep(0.5)
        sample = client_connections_per_worker(server_pid, int(url.rsplit(":", 1)[1]))
        split = sample if sum(sample) > sum(split) else split
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"load phase {phase} failed:\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    server = cpu_seconds(server_pid) - before
    other = max(0.0, busy_seconds() - machine - server - (own_cpu_seconds() - ours))
    return {**result, "server_cpu_s": server, "other_cpu_s": other, "connections_per_worker": split}


def client_connections_per_worker(pid: int, port: int) -> list[int]:
    """Connections each worker holds on the API's port (its own to Postgres or Redis left out)."""
    return sorted((sum(c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port for c in w.net_connections("tcp"))
                   for w in psutil.Process(pid).children()), reverse=True)


def own_cpu_seconds() -> float:
    """This process and its finished children (the load generator) so far."""
    return sum(sum(resource.getrusage(who)[:2]) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


# -- the drain ---------------------------------------------------------------------------------------


def outbox(env: dict[str, str]):
    from sylo.appdb import AppDB
    from sylo.commands.outbox import Outbox
    from sylo.settings import Settings

    settings = Settings(_env_file=None, data_dir=env["SYLO_DATA_DIR"], app_db_url=env.get("SYLO_APP_DB_URL"))
    return Outbox(AppDB.from_settings(settings).engine)


def pending(box) -> int:
    counts = box.counts()
    return counts.get("queued", 0) + counts.get("delivering", 0)


def drain(env: dict[str, str], sandbox_url: str, sandbox_pid: int, seconds: float = 600) -> dict:
    """`sylo worker` against the filled outbox until nothing is pending; then what the stand-in saw."""
    from bench.serve import busy_seconds, cpu_seconds

    box, sandbox_cpu = outbox(env), cpu_seconds(sandbox_pid)
    started, ours, machine = time.time(), own_cpu_seconds(), busy_seconds()
    log = Path(env["SYLO_DATA_DIR"]) / "worker.log"
    with log.open("w") as stderr:
        worker = subprocess.Popen([str(BIN / "sylo"), "worker"], cwd=ROOT, env=env, stderr=stderr)
    deadline = time.monotonic() + seconds
    while pending(box) and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.05)
    finished, worker_cpu = time.time(), sum(psutil.Process(worker.pid).cpu_times()[:2])
    sandbox_cpu = cpu_seconds(sandbox_pid) - sandbox_cpu
    other = max(0.0, busy_seconds() - machine - worker_cpu - sandbox_cpu - (own_cpu_seconds() - ours))
    worker.terminate()
    worker.wait(timeout=30)
    calls = httpx.get(sandbox_url + "/_sandbox/n8n/calls", timeout=120).json()["calls"]
    delivered = Counter(c["body"]["id"] for c in calls if c["status"] and c["status"] < 300)
    first_call = min((c["received_at"] for c in calls), default=finished)
    return {"counts": box.counts(), "delivered": sum(delivered.values()), "distinct": len(delivered),
            "duplicated": sum(n > 1 for n in delivered.values()), "failed_calls": len(calls) - sum(delivered.values()),
            "stored_ids": stored_ids(box), "delivered_ids": set(delivered), "seconds": finished - first_call,
            "startup_s": first_call - started, "worker_cpu_s": worker_cpu, "sandbox_cpu_s": sandbox_cpu,
            "other_cpu_s": other, "wall_s": finished - started, "worker_errors": log.read_text()[-2000:]}


def stored_ids(box) -> set[str]:
    from sqlalchemy import select

    from sylo.appdb.schema import commands

    with box.engine.connect() as conn:
        return set(conn.execute(select(commands.c.id)).scalars())


# -- the report --------------------------------------------------------------------------------------


def refused(phase: dict) -> int:
    """Every answer but a 2xx, warm-up included."""
    return sum(n for statuses in (phase["statuses"], phase["warmup_statuses"])
               for status, n in statuses.items() if not status.startswith("2"))


def accepted(phase: dict, warmup: bool = False) -> int:
    return phase["statuses"].get("202", 0) + (phase["warmup_statuses"].get("202", 0) if warmup else 0)


def report(args, passes: list[dict], steady: dict, drained: dict, rows: int, load_before: float) -> dict:
    database = ("Postgres" if args.app_db else "SQLite (WAL, synchronous FULL)") + (", Redis" if args.redis else "")
    threads = re.search(r"^threads = (\d+)", (ROOT / "sylo" / "gunicorn_conf.py").read_text(), re.M).group(1)
    print(f"Signed commands: {args.users} users, gunicorn {args.workers} gthread workers x {threads} threads, app DB "
          f"{database}, SYLO_COMMAND_WAIT_SECONDS=0, `sylo worker` with its default concurrency, loopback, "
          f"{os.cpu_count()} cores (load average {load_before:.1f} before the run)")
    closed = sorted(passes, key=lambda p: accepted(p) / p["seconds"])[len(passes) // 2]
    rate = print_accepting(args, passes, closed, steady, rows)
    drain_rate = print_draining(drained)
    print(f"  CPU seconds          gunicorn {closed['server_cpu_s']:.1f} median pass + {steady['server_cpu_s']:.1f} "
          f"paced (warm-ups included), load generator {closed['client_cpu_s']:.1f} + {steady['client_cpu_s']:.1f}, "
          f"worker {drained['worker_cpu_s']:.1f}, sandbox (drain) {drained['sandbox_cpu_s']:.1f}")
    served = closed["warmup"] + closed["requests"]
    print(f"  CPU per command      gunicorn {1000 * closed['server_cpu_s'] / served:.2f} ms accepting (median pass), "
          f"worker {1000 * drained['worker_cpu_s'] / max(1, drained['delivered']):.2f} ms + sandbox "
          f"{1000 * drained['sandbox_cpu_s'] / max(1, drained['delivered']):.2f} ms delivering: steadier than rates "
          "when the machine is shared")
    print(f"  other processes      {closed['other_cpu_s']:.1f} CPU s during the median pass, "
          f"{steady['other_cpu_s']:.1f} paced, {drained['other_cpu_s']:.1f} draining (noise: "
          "this machine's cores are shared)")
    once = exactly_once(drained)
    print(f"  machine              load average {load_before:.1f} before the run, {os.getloadavg()[0]:.1f} after")
    print("  targets (issue 18, target 5; ratio = measured / target)")
    print(f"    accepted/s at {args.connections} connections  {rate:7.0f}   >= {TARGET_ACCEPTED}: "
          f"{rate / TARGET_ACCEPTED:.2f}x  {verdict(rate >= TARGET_ACCEPTED)}")
    print(f"    p99 at {args.connections} connections         {closed['p99_ms']:7.1f} ms <= {TARGET_P99_MS:g} ms: "
          f"{closed['p99_ms'] / TARGET_P99_MS:.2f}x  {verdict(closed['p99_ms'] <= TARGET_P99_MS)}"
          f"   (paced at {args.rate:g}/s: p99 {steady['p99_ms']:.1f} ms)")
    print(f"    drain/s                      {drain_rate:7.0f}   >= {TARGET_DRAIN}: "
          f"{drain_rate / TARGET_DRAIN:.2f}x  {verdict(drain_rate >= TARGET_DRAIN)}")
    print(f"    exactly once                 {'yes' if once else 'NO':>7}   every accepted command delivered once, "
          f"none lost: {verdict(once)}")
    return {"users": args.users, "app_db": database, "load_average_before": load_before,
            "load_average_after": os.getloadavg()[0], "accepted_per_s": round(rate),
            "p99_ms_closed": closed["p99_ms"], "drain_per_s": round(drain_rate), "exactly_once": once,
            "outbox_rows": rows,
            "closed_passes": passes, "paced": steady,
            "drain": {k: v for k, v in drained.items() if not k.endswith("_ids")}}


def print_accepting(args, passes: list[dict], closed: dict, steady: dict, rows: int) -> float:
    """The accept phases; returns the median closed-loop pass's accepted/s."""
    rate = accepted(closed) / closed["seconds"]
    sent = sum(p["warmup"] + p["requests"] for p in (*passes, steady))
    print(f"  accept, closed loop  {args.connections} connections, median of {len(passes)} passes: "
          f"{accepted(closed)} commands in {closed['seconds']:.2f} s = {rate:.0f} accepted/s, "
          f"p50 {closed['p50_ms']:.1f} ms, p99 {closed['p99_ms']:.1f} ms, max {closed['max_ms']:.0f} ms")
    splits = ["/".join(map(str, p["connections_per_worker"])) for p in passes]
    print("                       passes " + ", ".join(
        f"{accepted(p) / p['seconds']:.0f}/s (connections per worker {split})" for p, split in zip(passes, splits)))
    print(f"  accept, paced        {accepted(steady)} commands due at {args.rate:g}/s, answered in "
          f"{steady['seconds']:.1f} s: p50 {steady['p50_ms']:.1f} ms, p99 {steady['p99_ms']:.1f} ms, "
          f"max {steady['max_ms']:.0f} ms (from when each was due)")
    phases = (*passes, steady)
    print(f"  refused              {sum(refused(p) for p in phases)} (must be 0)")
    print(f"  durable              {rows} commands in the outbox for {sum(accepted(p, True) for p in phases)} "
          f"answered 202 of {sent} sent (warm-ups of {closed['warmup']} per phase included)")
    return rate


def print_draining(drained: dict) -> float:
    """The drain and the exactly-once check; returns deliveries per second."""
    rate = drained["delivered"] / drained["seconds"]
    missing = len(drained["stored_ids"] - drained["delivered_ids"])
    print(f"  drain                sylo worker: {drained['delivered']} delivered in {drained['seconds']:.2f} s = "
          f"{rate:.0f}/s (after {drained['startup_s']:.1f} s start-up); outbox now {drained['counts']}")
    print(f"  exactly once         {drained['distinct']} distinct ids, {drained['duplicated']} duplicated, "
          f"{missing} missing, {drained['failed_calls']} failed calls -> " + ("yes" if exactly_once(drained) else "NO"))
    if drained["worker_errors"].strip():
        print("  worker stderr:", drained["worker_errors"].strip()[-500:])
    return rate


def exactly_once(drained: dict) -> bool:
    """Every stored command reached the stand-in once: none twice, none missing, no call refused."""
    return (drained["stored_ids"] == drained["delivered_ids"] and not drained["duplicated"]
            and not drained["failed_calls"])


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def measure(args, data_dir: Path) -> dict:
    load_before = os.getloadavg()[0]  # other work on these cores shows in every figure
    run = uuid.uuid4().hex[:8]
    with app_database(args.app_db) as app_db_url:
        env = service_env(data_dir, app_db_url, args.redis)
        users_file = data_dir / "users.json"
        users_file.write_text(json.dumps(create_users(env, args.users, run)))
        with sandbox(env) as (sandbox_url, sandbox_pid):
            env["SYLO_N8N_URL"] = sandbox_url
            with gunicorn(env, args.workers) as (url, pid):
                passes = [load("closed", url, users_file, pid, first=n * args.commands, count=args.commands,
                               connections=args.connections) for n in range(args.passes)]
                paced_count = int(args.rate * args.paced_seconds)
                steady = load("paced", url, users_file, pid, first=1_000_000, count=paced_count,
                              connections=64, rate=args.rate)
            box = outbox(env)
            rows = len(stored_ids(box))
            box.engine.dispose()
            drained = drain(env, sandbox_url, sandbox_pid)
        if args.redis:
            forget(args.redis, run)
        return report(args, passes, steady, drained, rows, load_before)


def forget(redis_url: str, run: str) -> None:
    """Delete this run's replay ids and rate-limit windows: the Redis may be shared."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"*{run}*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start:start + 1000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--commands", type=int, default=2000, help="commands per closed-loop pass")
    parser.add_argument("--passes", type=int, default=3, help="closed-loop passes, each on fresh connections")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections in the closed loop")
    parser.add_argument("--rate", type=float, default=TARGET_ACCEPTED, help="commands per second when paced")
    parser.add_argument("--paced-seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--app-db", default=None, metavar="postgresql://...",
                        help="a Postgres server to create a throwaway app DB on (default: SQLite)")
    parser.add_argument("--redis", default=None, metavar="redis://...",
                        help="share replay ids and rate limits through Redis, as a multi-process deployment should")
    parser.add_argument("--phase", choices=["closed", "paced"], help=argparse.SUPPRESS)
    for name in ("--url", "--users-file"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    for name in ("--first", "--count", "--warmup"):
        parser.add_argument(name, type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(run_load(args)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        summary = measure(args, Path(tmp))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "commands.json").write_text(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
