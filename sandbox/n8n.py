"""An n8n stand-in: `POST /webhook/<path>` answering like n8n's Webhook node (reference/protocols.md §2).

Each registered path behaves like an active workflow with header auth: it records the call,
checks the header, and answers in one of n8n's response modes. On demand it fails the next N
calls, sleeps first (a slow workflow), or is simply not registered (404 with n8n's hint).
"""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any, Literal

from pydantic import BaseModel, Field
from werkzeug.wrappers import Request, Response

from sandbox.http import json_response

DEFAULT_PATH = "sylo-commands"


class Workflow(BaseModel):
    """How one webhook path answers. `respond` mirrors the Webhook node's Respond option."""

    respond: Literal["immediately", "last_node", "respond_node"] = "respond_node"
    status: int = Field(200, ge=100, le=599)
    result: Any = None
    delay_seconds: float = Field(0.0, ge=0)
    fail_next: int = Field(0, ge=0)
    fail_rate: float = Field(0.0, ge=0, le=1, description="Fail this fraction of calls at random (seeded).")
    fail_status: int = Field(500, ge=400, le=599)


class N8n:
    def __init__(self, auth_header: str, auth_value: str | None):
        self.auth_header = auth_header
        self.auth_value = auth_value
        self.workflows: dict[str, Workflow] = {DEFAULT_PATH: Workflow()}
        self.calls: list[dict] = []
        self._lock = threading.Lock()
        self._executions = 0
        self._random = random.Random(8080)

    def handle(self, request: Request, path: str) -> Response:
        body = request.get_data()
        with self._lock:
            workflow = self.workflows.get(path)
            call = {"path": path, "method": request.method, "headers": dict(request.headers),
                    "body": _parse(body), "received_at": time.time(), "status": None}
            self.calls.append(call)
        response = self._answer(request, path, workflow, call)
        call["status"] = response.status_code
        return response

    def _answer(self, request: Request, path: str, workflow: Workflow | None, call: dict) -> Response:
        if workflow is None:
            return json_response({"code": 404, "message": f'The requested webhook "{request.method} {path}" is not registered.',
                                  "hint": "The workflow must be active for a production URL to run successfully. "
                                          "You can activate the workflow using the toggle in the top-right of the editor."}, 404)
        if request.method != "POST":
            return json_response({"code": 404, "message": f"This webhook is not registered for {request.method} requests. "
                                                          "Did you mean to make a POST request?"}, 404)
        if self.auth_value is not None and request.headers.get(self.auth_header) != self.auth_value:
            return json_response({"code": 403, "message": "Authorization data is wrong!"}, 403)
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
        result = workflow.result if workflow.result is not None else _default_result(call["body"], execution)
        return json_response(result, workflow.status)

    def configure(self, path: str, workflow: Workflow | None) -> None:
        with self._lock:
            if workflow is None:
                self.workflows.pop(path, None)
            else:
                self.workflows[path] = workflow

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.calls)

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return body.decode(errors="replace")


def _default_result(body: Any, execution: int) -> dict:
    action = body.get("action") if isinstance(body, dict) else None
    return {"ok": True, "execution_id": str(execution), "action": action}
