"""An n8n stand-in: `POST /webhook/<path>` answering like n8n's Webhook node (reference/protocols.md §2).

Each registered path behaves like an active workflow with header auth: it records the call,
checks the header, and answers in one of n8n's response modes. On demand it fails the next N
calls, sleeps first (a slow workflow), has lost its credential, is not registered (404 with n8n's
hint), or reports its result later (a long-running workflow calling back
`POST /v1/commands/<id>/result`, signed like Sylo signs, Standard Webhooks). After a "restart"
it answers as n8n does while it boots: Express's HTML 404 before the webhook routes exist, then
JSON 404 "not registered" until the active workflows are registered.

The answers' shapes come from n8n's source: `packages/cli/src/abstract-server.ts` (start-up),
`packages/cli/src/errors/response-errors/webhook-not-found.error.ts` and `response-helper.ts`
(404s), `packages/nodes-base/nodes/Webhook/{Webhook.node.ts,utils.ts,error.ts}` (header auth),
and pillarjs/finalhandler (Express's 404 page).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import threading
import time
import uuid
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field
from werkzeug.wrappers import Request, Response

from sandbox.http import json_response

DEFAULT_PATH = "sylo-commands"
PRODUCTION_HINT = ("The workflow must be active for a production URL to run successfully. You can activate the "
                   "workflow using the toggle in the top-right of the editor. Note that unlike test URL calls, "
                   "production URL calls aren't shown on the canvas (only in the executions list)")
STARTING_UP = "n8n is starting up. Please wait"
NO_CREDENTIAL = "No authentication data defined on node!"
WRONG_AUTH = "Authorization data is wrong!"


class Callback(BaseModel):
    """The result a long-running workflow reports to Sylo after answering 202 running."""

    status: Literal["succeeded", "failed"] = "succeeded"
    result: Any = None
    error: str | None = None
    delay_seconds: float = Field(0.0, ge=0)
    hold: bool = Field(False, description="Keep it until `POST /_sandbox/n8n/callbacks` releases it.")


class Workflow(BaseModel):
    """How one webhook path answers. `respond` mirrors the Webhook node's Respond option."""

    respond: Literal["immediately", "last_node", "respond_node"] = "respond_node"
    status: int = Field(200, ge=100, le=599)
    result: Any = None
    delay_seconds: float = Field(0.0, ge=0)
    fail_next: int = Field(0, ge=0)
    fail_rate: float = Field(0.0, ge=0, le=1, description="Fail this fraction of calls at random (seeded).")
    fail_status: int = Field(500, ge=400, le=599)
    credential: Literal["attached", "missing"] = Field(
        "attached", description="missing: the Webhook node's Header Auth credential is gone (n8n answers 500).")
    verify_signature: bool = Field(False, description="Check Sylo's Standard Webhooks signature, as the example "
                                                      "workflow's Code node does (401 when it does not verify).")
    callback: Callback | None = None


class Phase(BaseModel):
    """One stage of a start-up: it lasts until it has answered `calls` calls and `seconds` have passed."""

    calls: int = Field(0, ge=0)
    seconds: float = Field(0.0, ge=0)


class Restart(BaseModel):
    """What n8n answers while it boots, in this order (abstract-server.ts): the database migrating
    (200 "n8n is starting up. Please wait"), the HTTP server up before its webhook routes (Express's
    HTML 404 "Cannot POST /webhook/<path>"), then the routes up before the active workflows are
    registered (JSON 404 "... is not registered.")."""

    starting_up: Phase = Field(default_factory=Phase)
    html_404: Phase = Field(default_factory=lambda: Phase(calls=1))
    not_registered: Phase = Field(default_factory=lambda: Phase(calls=2))


class Instance(BaseModel):
    """n8n-wide settings: the secret its workflows share with Sylo, and where Sylo takes results."""

    signing_secret: str | None = Field(None, description="SYLO_N8N_SIGNING_SECRET as the workflow knows it.")
    callback_url: str | None = Field(None, description="Sylo's base URL; results go to <url>/v1/commands/<id>/result.")


class _Stage:
    def __init__(self, name: str, phase: Phase):
        self.name, self.phase, self.answered, self.started = name, phase, 0, None

    def over(self, at: float) -> bool:
        started = self.started if self.started is not None else at
        return self.answered >= self.phase.calls and at - started >= self.phase.seconds


class N8n:
    def __init__(self, auth_header: str, auth_value: str | None, signing_secret: str | None = None):
        self.auth_header = auth_header
        self.auth_value = auth_value
        self.instance = Instance(signing_secret=signing_secret)
        self.workflows: dict[str, Workflow] = {DEFAULT_PATH: Workflow()}
        self.calls: list[dict] = []
        self.callbacks: list[dict] = []
        self._held: list[dict] = []
        self._stages: list[_Stage] = []
        self._lock = threading.Lock()
        self._executions = 0
        self._random = random.Random(8080)
        self._http = httpx.Client(timeout=30)

    # -- the webhook ----------------------------------------------------------------------------

    def handle(self, request: Request, path: str) -> Response:
        body = request.get_data()
        with self._lock:
            workflow = self.workflows.get(path)
            call = {"path": path, "method": request.method, "headers": dict(request.headers),
                    "body": _parse(body), "raw_base64": base64.b64encode(body).decode(),
                    "received_at": time.time(), "status": None}
            self.calls.append(call)
            stage = call["stage"] = self._stage()
        response = _booting(stage, request) if stage else self._answer(request, path, workflow, call, body)
        call["status"] = response.status_code
        return response

    def _stage(self) -> str | None:
        """The start-up stage this call falls in (and counts towards), or None once n8n is up."""
        at = time.monotonic()
        while self._stages:
            stage = self._stages[0]
            if stage.started is None:
                stage.started = at
            if not stage.over(at):
                stage.answered += 1
                return stage.name
            self._stages.pop(0)
        return None

    def _answer(self, request: Request, path: str, workflow: Workflow | None, call: dict, body: bytes) -> Response:
        if workflow is None:
            return json_response({"code": 404, "message": f'The requested webhook "{request.method} {path}" '
                                                          "is not registered.", "hint": PRODUCTION_HINT}, 404)
        if request.method != "POST":
            return json_response({"code": 404, "message": f"This webhook is not registered for {request.method} "
                                                          "requests. Did you mean to make a POST request?"}, 404)
        refused = self._authorise(request, workflow, body)
        if refused is not None:
            return refused
        if workflow.respond == "immediately":
            return json_response({"message": "Workflow was started"}, workflow.status)
        with self._lock:
            failing = workflow.fail_next > 0 or self._random.random() < workflow.fail_rate
            if workflow.fail_next > 0:
                workflow.fail_next -= 1
            self._executions += 1
            execution = self._executions
        if workflow.delay_seconds:
            time.sleep(workflow.delay_seconds)
        if failing:
            return json_response({"message": "Error in workflow"}, workflow.fail_status)
        if workflow.callback is not None and isinstance(call["body"], dict):
            self._schedule(workflow.callback, call["body"])
        result = workflow.result if workflow.result is not None else _default_result(call["body"], execution)
        return json_response(result, workflow.status)

    def _authorise(self, request: Request, workflow: Workflow, body: bytes) -> Response | None:
        """The Webhook node's header auth (utils.ts), then the example workflow's signature check."""
        if workflow.credential == "missing":
            return _plain(500, NO_CREDENTIAL)
        if self.auth_value is not None and request.headers.get(self.auth_header) != self.auth_value:
            return _plain(403, WRONG_AUTH)
        if workflow.verify_signature and not _verifies(self.instance.signing_secret, request.headers, body):
            return json_response({"ok": False, "message": "webhook-signature does not verify"}, 401)
        return None

    # -- results reported later --------------------------------------------------------------------

    def _schedule(self, callback: Callback, command: dict) -> None:
        body = {"id": command.get("id"), "user_id": command.get("user_id"), "status": callback.status}
        if callback.result is not None:
            body["result"] = callback.result
        if callback.error is not None:
            body["error"] = callback.error
        pending = {"command_id": command.get("id"), "body": body, "status": None, "sent_at": None}
        with self._lock:
            self.callbacks.append(pending)
            if callback.hold:
                self._held.append(pending)
                return
        timer = threading.Timer(callback.delay_seconds, self._send, args=(pending,))
        timer.daemon = True
        timer.start()

    def release(self) -> list[dict]:
        """Send every held result now; what Sylo answered to each."""
        with self._lock:
            held, self._held = self._held, []
        for pending in held:
            self._send(pending)
        return held

    def _send(self, pending: dict) -> None:
        if not (self.instance.callback_url and self.instance.signing_secret):
            pending["status"] = "not sent: set callback_url and signing_secret (PUT /_sandbox/n8n)"
            return
        raw = json.dumps(pending["body"], ensure_ascii=False, separators=(",", ":")).encode()
        url = f"{self.instance.callback_url.rstrip('/')}/v1/commands/{pending['command_id']}/result"
        headers = {"Content-Type": "application/json", "User-Agent": "n8n",
                   **_sign(self.instance.signing_secret, "res_" + uuid.uuid4().hex, raw)}
        pending["headers"], pending["sent_at"] = headers, time.time()
        try:
            pending["status"] = self._http.post(url, content=raw, headers=headers).status_code
        except httpx.HTTPError as error:
            pending["status"] = f"not delivered: {type(error).__name__}"

    # -- admin ------------------------------------------------------------------------------------

    def configure(self, path: str, workflow: Workflow | None) -> None:
        with self._lock:
            if workflow is None:
                self.workflows.pop(path, None)
            else:
                self.workflows[path] = workflow

    def configure_instance(self, instance: Instance) -> None:
        with self._lock:
            self.instance = instance

    def restart(self, plan: Restart) -> None:
        with self._lock:
            self._stages = [_Stage(name, getattr(plan, name)) for name in ("starting_up", "html_404", "not_registered")]

    def state(self) -> dict:
        with self._lock:
            return {"callback_url": self.instance.callback_url,
                    "signing_secret_set": self.instance.signing_secret is not None,
                    "starting": [{"stage": s.name, "answered": s.answered, **s.phase.model_dump()}
                                 for s in self._stages]}

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.calls)

    def callback_log(self) -> list[dict]:
        with self._lock:
            return [dict(c) for c in self.callbacks]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    def close(self) -> None:
        self._http.close()


def _booting(stage: str, request: Request) -> Response:
    """n8n's answers while it boots (see Restart)."""
    if stage == "starting_up":
        return Response(STARTING_UP, 200, content_type="text/html; charset=utf-8")
    if stage == "html_404":
        page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n"
                f"</head>\n<body>\n<pre>Cannot {request.method} {request.path}</pre>\n</body>\n</html>\n")
        return Response(page, 404, content_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": "default-src 'none'", "X-Content-Type-Options": "nosniff"})
    return json_response({"code": 404, "message": f'The requested webhook "{request.method} '
                                                  f'{request.path.removeprefix("/webhook/")}" is not registered.',
                          "hint": PRODUCTION_HINT}, 404)


def _plain(status: int, message: str) -> Response:
    """The Webhook node writes auth refusals with `resp.end(message)`: no JSON, a Basic challenge."""
    response = Response(message, status, headers={"WWW-Authenticate": 'Basic realm="Webhook"'})
    response.headers.remove("Content-Type")
    return response


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def _sign(secret: str, message_id: str, raw: bytes) -> dict[str, str]:
    """Standard Webhooks v1 headers, computed here rather than with Sylo's code: an independent check."""
    timestamp = str(int(time.time()))
    digest = hmac.new(_key(secret), f"{message_id}.{timestamp}.".encode() + raw, hashlib.sha256).digest()
    return {"webhook-id": message_id, "webhook-timestamp": timestamp,
            "webhook-signature": "v1," + base64.b64encode(digest).decode()}


def _verifies(secret: str | None, headers, raw: bytes) -> bool:
    message_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not (secret and message_id and timestamp.isascii() and timestamp.isdigit()):
        return False
    if abs(time.time() - int(timestamp)) > 300:
        return False
    expected = hmac.new(_key(secret), f"{message_id}.{timestamp}.".encode() + raw, hashlib.sha256).digest()
    given = [item.partition(",")[2] for item in headers.get("webhook-signature", "").split() if item.startswith("v1,")]
    return any(hmac.compare_digest(base64.b64encode(expected).decode(), candidate) for candidate in given)


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return body.decode(errors="replace")


def _default_result(body: Any, execution: int) -> dict:
    action = body.get("action") if isinstance(body, dict) else None
    return {"ok": True, "execution_id": str(execution), "action": action}
