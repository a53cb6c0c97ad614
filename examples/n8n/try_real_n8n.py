"""Try the example workflow against a real n8n (opt-in; not part of `make test`).

    PYTHONPATH=. .venv/bin/python examples/n8n/try_real_n8n.py [--dir DIR] [--version 1.123] [--port 5679]

Installs n8n from npm into DIR (default ~/.cache/sylo/n8n-<version>; reused when present), then
follows the README's "Wiring n8n" steps in their order: the Header Auth credential first, named as
the workflow references it; import the workflow; activate it (1.x) or publish it (2.x); start n8n.
A Sylo API and outbox worker run in this process against a throwaway data folder. It sends one
command before n8n has started (it must arrive exactly once), waits until an unauthenticated probe
gets n8n's 403, then sends every action in the catalog, signed, and checks what came back:
`veo.generate_video` goes running → succeeded through the workflow's signed result. It also
replays a delivered command (the workflow answers it as a duplicate), sends one with a wrong
credential, and checks that n8n's database holds neither successful executions nor the auth value.

Installing needs the npm registry. Facts this relies on (issue 13): n8n pins `xlsx` to a CDN
tarball that cannot be reached, so an npm `overrides` entry pins xlsx 0.18.5 and the install runs
with `--ignore-scripts`; sqlite3 is then built with `node-gyp rebuild --nodedir=/usr`; with
scripts ignored, n8n 1.123.x needs N8N_EXPRESSION_ENGINE=legacy.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from pydantic import SecretStr
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from api import create_app  # noqa: E402
from sylo.appdb import AppDB  # noqa: E402
from sylo.commands import build_worker  # noqa: E402
from sylo.commands.delivery import Forwarder  # noqa: E402
from sylo.commands.policy import Policies  # noqa: E402
from sylo.commands.signing import sign  # noqa: E402
from sylo.keyring import Keyring, generate_entry  # noqa: E402
from sylo.settings import Settings  # noqa: E402

WORKFLOW = ROOT / "examples" / "n8n" / "sylo-commands.json"
WORKFLOW_ID = json.loads(WORKFLOW.read_text())["id"]
CREDENTIAL = {"id": "syloHeaderAuth01", "name": "Sylo header auth", "type": "httpHeaderAuth"}
ACTIONS = {
    "asana.create_task": {"project_gid": "1201", "name": "Send the Harbour Road drawings"},
    "asana.complete_task": {"task_gid": "1202"},
    "asana.comment": {"task_gid": "1202", "text": "Zoë’s drawings sent — 東京 ✓"},
    "gmail.draft_reply": {"thread_id": "18c0ffee", "body": "Thanks, the drawings are attached."},
    "gmail.send_email": {"to": ["client@example.com"], "subject": "Drawings", "body": "Attached."},
    "xero.create_draft_invoice": {"contact_id": str(uuid.uuid4()), "line_items": [
        {"description": "Design fee", "quantity": "1", "unit_amount": "1200"}]},
    "xero.send_invoice_reminder": {"invoice_id": str(uuid.uuid4())},
    "veo.generate_video": {"prompt": "A slow pan over the Harbour Road model"},
    "meta.publish_post": {"platform": "instagram", "caption": "New project: Harbour Road"},
}


def main() -> int:
    args = parse_args()
    folder = Path(args.dir or Path.home() / ".cache" / "sylo" / f"n8n-{args.version}").expanduser()
    n8n = install(folder, args.version)
    with Sylo(port=free_port(), n8n_port=args.port) as sylo:
        instance = N8n(n8n, folder, args.port, sylo)
        instance.prepare()
        checks = Checks()
        early = sylo.send("asana.create_task", {"project_gid": "1201", "name": "Sent while n8n was down"})
        instance.start()
        try:
            checks.run("a probe without auth gets 403 once n8n is up", lambda: instance.wait_until_protected(300))
            checks.run("the command sent before n8n started arrives exactly once",
                       lambda: sylo.delivered_once(early, 300))
            for action, params in ACTIONS.items():
                checks.run(f"{action} round-trips", lambda a=action, p=params: sylo.round_trip(a, p))
            checks.run("a retried command is answered as a duplicate, not run again", sylo.duplicate_is_dropped)
            checks.run("a wrong credential is n8n's 403", sylo.wrong_credential_is_refused)
            checks.run("n8n stores no successful execution and no auth value", instance.stores_no_secrets)
        finally:
            instance.stop()
    print(checks.summary())
    return 0 if checks.ok else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", help="where n8n is installed and keeps its data (default ~/.cache/sylo/n8n-<version>)")
    parser.add_argument("--version", default="1.123", help="n8n version or range from npm (default 1.123)")
    parser.add_argument("--port", type=int, default=5679, help="n8n's port (default 5679)")
    return parser.parse_args()


# -- installing ------------------------------------------------------------------------------------

def install(folder: Path, version: str) -> Path:
    """n8n's executable in `folder`, installed from npm the way that works offline-ish (see the docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    executable = folder / "node_modules" / "n8n" / "bin" / "n8n"
    if not executable.exists():
        (folder / "package.json").write_text(json.dumps({
            "name": "sylo-try-n8n", "private": True, "dependencies": {"n8n": version},
            "overrides": {"xlsx": "0.18.5"}}, indent=2))
        step(f"installing n8n {version} into {folder} (minutes; hundreds of MB)")
        run(["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder)
    sqlite = folder / "node_modules" / "sqlite3"
    if not (sqlite / "build" / "Release" / "node_sqlite3.node").exists():
        step("building sqlite3 (node-gyp, against the system's Node headers)")
        run(["node", node_gyp(), "rebuild", f"--nodedir={os.environ.get('NODE_DIR', '/usr')}"], cwd=sqlite)
    installed = json.loads((folder / "node_modules" / "n8n" / "package.json").read_text())["version"]
    step(f"n8n {installed} ready")
    return executable


def node_gyp() -> str:
    """npm's own node-gyp (npm ships one), so nothing more is downloaded."""
    npm_root = subprocess.run(["npm", "root", "-g"], capture_output=True, text=True, check=True).stdout.strip()
    bundled = Path(npm_root) / "npm" / "node_modules" / "node-gyp" / "bin" / "node-gyp.js"
    if bundled.exists():
        return str(bundled)
    found = shutil.which("node-gyp")
    if found is None:
        raise SystemExit("node-gyp not found: install it (npm i -g node-gyp) or set PATH")
    return found


# -- n8n -------------------------------------------------------------------------------------------

class N8n:
    def __init__(self, executable: Path, folder: Path, port: int, sylo: "Sylo"):
        self.executable, self.port, self.sylo = executable, port, sylo
        self.home = folder / "home"
        self.url = f"http://127.0.0.1:{port}"
        self.major = int(json.loads((folder / "node_modules" / "n8n" / "package.json").read_text())["version"][0])
        self.process: subprocess.Popen | None = None
        self.log = folder / "n8n.log"

    def env(self) -> dict[str, str]:
        settings = self.sylo.settings
        return {**os.environ, "N8N_USER_FOLDER": str(self.home), "N8N_PORT": str(self.port),
                "N8N_LISTEN_ADDRESS": "127.0.0.1", "N8N_ENCRYPTION_KEY": "sylo-try-n8n-encryption-key-0001",
                "N8N_EXPRESSION_ENGINE": "legacy", "N8N_DIAGNOSTICS_ENABLED": "false",
                "N8N_VERSION_NOTIFICATIONS_ENABLED": "false", "N8N_TEMPLATES_ENABLED": "false",
                "N8N_SECURE_COOKIE": "false", "N8N_PERSONALIZATION_ENABLED": "false",
                # What the workflow's Code nodes need (README, "Wiring n8n"):
                "NODE_FUNCTION_ALLOW_BUILTIN": "crypto", "N8N_BLOCK_ENV_ACCESS_IN_NODE": "false",
                "SYLO_N8N_SIGNING_SECRET": settings.n8n_signing_secret.get_secret_value(),
                "SYLO_PUBLIC_URL": self.sylo.url}

    def cli(self, *args: str) -> None:
        run([str(self.executable), *args], env=self.env(), cwd=self.home)

    def prepare(self) -> None:
        """The README's order: credential, import, activate/publish; all before `n8n start`."""
        if self.home.exists():
            shutil.rmtree(self.home)  # a fresh n8n each time: its database, its key
        self.home.mkdir(parents=True)
        settings = self.sylo.settings
        credential = self.home / "credential.json"
        credential.write_text(json.dumps([{**CREDENTIAL, "data": {
            "name": settings.n8n_auth_header, "value": settings.n8n_auth_value.get_secret_value()}}]))
        step("n8n import:credentials (the Header Auth credential, named as the workflow references it)")
        self.cli("import:credentials", f"--input={credential}")
        credential.unlink()
        for attempt in ("first", "again: the stable id updates it in place"):
            step(f"n8n import:workflow ({attempt})")
            self.cli("import:workflow", f"--input={WORKFLOW}")
        if self.major >= 2:
            step(f"n8n publish:workflow --id={WORKFLOW_ID}")
            self.cli("publish:workflow", f"--id={WORKFLOW_ID}")
        else:
            step(f"n8n update:workflow --id={WORKFLOW_ID} --active=true")
            self.cli("update:workflow", f"--id={WORKFLOW_ID}", "--active=true")
        self.check_one_workflow()

    def check_one_workflow(self) -> None:
        with sqlite3.connect(self.home / ".n8n" / "database.sqlite") as db:
            rows = db.execute("SELECT id, active FROM workflow_entity").fetchall()
        if rows != [(WORKFLOW_ID, 1)]:
            raise SystemExit(f"expected one active workflow {WORKFLOW_ID}, n8n has {rows}")

    def start(self) -> None:
        step(f"n8n start on {self.url} (log: {self.log})")
        self.process = subprocess.Popen([str(self.executable), "start"], env=self.env(), cwd=self.home,
                                        stdout=self.log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)

    def wait_until_protected(self, seconds: float) -> str:
        """Until POST /webhook/sylo-commands without the header gets 403: webhook registered, auth on.
        Prints each different answer n8n gives on the way (status, content type, body)."""
        deadline, seen, started = time.monotonic() + seconds, [], time.monotonic()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"n8n exited with {self.process.returncode}; see {self.log}")
            try:
                answer = httpx.post(self.url + "/webhook/sylo-commands", json={}, timeout=5)
            except httpx.TransportError as error:
                answer = None
                shape = ("no answer", type(error).__name__, "")
            else:
                shape = (answer.status_code, answer.headers.get("Content-Type", ""), answer.text[:400])
            if not seen or seen[-1] != shape:
                seen.append(shape)
                step(f"  +{time.monotonic() - started:.1f} s: {shape[0]} {shape[1]!r} {shape[2]!r}")
            if answer is not None and answer.status_code == 403:
                return f"answers seen while starting: {[s[0] for s in seen]}"
            time.sleep(0.1)
        raise AssertionError(f"no 403 within {seconds:g} s; answers seen: {seen}")

    def stores_no_secrets(self) -> str:
        """No successful execution is kept, and no row holds the auth value. n8n writes an execution's
        start data (the webhook's headers) when it begins and deletes it when it succeeds, so the bytes
        can linger in SQLite's free pages until reused (or VACUUM): reported, not failed."""
        database = self.home / ".n8n" / "database.sqlite"
        value = self.sylo.settings.n8n_auth_value.get_secret_value()
        with sqlite3.connect(database) as db:
            executions = db.execute("SELECT status, count(*) FROM execution_entity GROUP BY status").fetchall()
            holding = [table for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                       if _rows_hold(db, table, value)]
        assert not holding, f"rows of {holding} hold the auth value"
        assert not [s for s, _ in executions if s == "success"], f"successful executions were saved: {executions}"
        residue = any(value.encode() in p.read_bytes() for p in database.parent.glob("database.sqlite*"))
        return (f"executions kept by status: {executions or 'none'}; no row holds the auth value"
                + ("; its bytes linger in free pages of database.sqlite" if residue else ""))

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


# -- Sylo ------------------------------------------------------------------------------------------

class Sylo:
    """The API (n8n reports results to it) and an outbox worker, on a throwaway data folder."""

    def __init__(self, port: int, n8n_port: int):
        self.data = Path(tempfile.mkdtemp(prefix="sylo-try-n8n-"))
        self.url = f"http://127.0.0.1:{port}"
        n8n_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        self.settings = Settings(_env_file=None, data_dir=self.data, encryption_keys=generate_entry(),
                                 public_url=self.url, n8n_url=f"http://127.0.0.1:{n8n_port}",
                                 n8n_auth_value=SecretStr(secrets.token_urlsafe(32)),
                                 n8n_signing_secret=SecretStr(n8n_secret), command_wait_seconds=10,
                                 n8n_setup_retry_minutes=10, log_level="WARNING")
        self.port = port

    def __enter__(self) -> "Sylo":
        self.appdb = AppDB.from_settings(self.settings)
        self.appdb.migrate()
        credentials = self.appdb.create_user_with_credentials("studio", "owner@studio.example",
                                                              Keyring.from_settings(self.settings))
        self.secret, self.token = credentials.signing_secret, credentials.api_token
        for action in ACTIONS:  # this checks n8n's answers, not approvals: the owner allows every action
            Policies(self.appdb.engine).set("studio", action, "allow", by="cli")
        self.server = make_server("127.0.0.1", self.port, create_app(self.settings, self.appdb), threaded=True)
        self.worker = build_worker(self.settings, self.appdb, poll_seconds=0.2, sweep_seconds=1.0)
        for target in (self.server.serve_forever, self.worker.run):
            threading.Thread(target=target, daemon=True).start()
        self.http = httpx.Client(base_url=self.url, timeout=60)
        return self

    def __exit__(self, *_exc) -> None:
        self.worker.stop()
        self.server.shutdown()
        self.http.close()
        shutil.rmtree(self.data, ignore_errors=True)

    def send(self, action: str, params: dict) -> dict:
        body = json.dumps({"action": action, "params": params}, ensure_ascii=False).encode()
        headers = {**sign(self.secret, f"msg_{uuid.uuid4().hex}", body), "Content-Type": "application/json"}
        answer = self.http.post("/v1/commands", content=body, headers=headers)
        if answer.status_code not in (200, 202):
            raise AssertionError(f"{action}: {answer.status_code} {answer.text[:300]}")
        return answer.json()

    def status(self, command_id: str) -> dict:
        return self.http.get(f"/v1/commands/{command_id}", headers={"Authorization": f"Bearer {self.token}"}).json()

    def wait(self, command_id: str, done: tuple[str, ...], seconds: float) -> dict:
        deadline = time.monotonic() + seconds
        while (status := self.status(command_id))["status"] not in done and time.monotonic() < deadline:
            time.sleep(0.2)
        return status

    def round_trip(self, action: str, params: dict) -> str:
        sent = self.send(action, params)
        if action == "veo.generate_video":
            done = self.wait(sent["id"], ("succeeded", "failed"), 120)
            assert done["status"] == "succeeded", done
            return f"{sent['status']} → running → succeeded, result {json.dumps(done['result'], ensure_ascii=False)}"
        done = self.wait(sent["id"], ("delivered", "failed"), 60)
        assert done["status"] == "delivered" and done["result"].get("ok") is True, done
        assert not done["result"].get("duplicate"), done
        return f"{done['status']} in {done['attempts']} attempt(s): {json.dumps(done['result'], ensure_ascii=False)}"

    def delivered_once(self, sent: dict, seconds: float) -> str:
        done = self.wait(sent["id"], ("delivered", "failed"), seconds)
        assert done["status"] == "delivered", done
        assert not done["result"].get("duplicate"), "the workflow had already run it"
        return f"delivered after {done['attempts']} attempts"

    def duplicate_is_dropped(self) -> str:
        sent = self.send("asana.comment", {"task_gid": "1203", "text": "Once only."})
        first = self.wait(sent["id"], ("delivered", "failed"), 60)
        assert first["status"] == "delivered", first
        command = self.worker.outbox.get(sent["id"])
        again = Forwarder(self.settings).send(command)  # as if our first answer had been lost
        assert again.verdict == "delivered" and again.result.get("duplicate") is True, again
        return f"second delivery answered {json.dumps(again.result)}"

    def wrong_credential_is_refused(self) -> str:
        wrong = self.settings.model_copy(update={"n8n_auth_value": SecretStr("not-the-credential")})
        command = self.worker.outbox.get(self.send("asana.complete_task", {"task_gid": "1204"})["id"])
        outcome = Forwarder(wrong).send(command)
        assert (outcome.status, outcome.cause) == (403, "auth"), outcome
        return outcome.reason


# -- plumbing --------------------------------------------------------------------------------------

def _rows_hold(db: sqlite3.Connection, table: str, value: str) -> bool:
    columns = [column[1] for column in db.execute(f'PRAGMA table_info("{table}")')]
    return any(value in str(cell) for row in db.execute(f'SELECT * FROM "{table}"') for cell in row
               if cell is not None) if columns else False


class Checks:
    def __init__(self):
        self.results: list[tuple[str, bool, str]] = []

    def run(self, name: str, check) -> None:
        started = time.monotonic()
        try:
            detail = check() or ""
            self.results.append((name, True, f"{detail} ({time.monotonic() - started:.1f} s)"))
        except Exception as error:  # report every check, not just the first failure
            self.results.append((name, False, f"{type(error).__name__}: {error}"))
        _, passed, detail = self.results[-1]
        step(f"{'ok  ' if passed else 'FAIL'} {name}: {detail}")

    @property
    def ok(self) -> bool:
        return all(passed for _, passed, _ in self.results)

    def summary(self) -> str:
        passed = sum(p for _, p, _ in self.results)
        return f"\n{passed}/{len(self.results)} checks passed"


def run(command: list[str], **kwargs) -> None:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                         f"{done.stderr[-3000:]}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def step(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
