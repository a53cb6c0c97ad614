"""The sandbox's own control panel under `/_sandbox/`: change the world, inject faults, inspect.

Not part of any emulated service; tests, benchmarks and the demo drive the world through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, ValidationError
from werkzeug.wrappers import Request, Response

from sandbox.changes import apply_batch
from sandbox.faults import FaultConfig
from sandbox.http import json_response
from sandbox.limits import LimitConfig
from sandbox.n8n import Instance, Restart, Workflow
from sylo.services import SERVICES

if TYPE_CHECKING:
    from sandbox.state import SandboxState


class ChangeRequest(BaseModel):
    fraction: float = Field(0.01, ge=0, le=1)
    count: int | None = Field(None, ge=0)
    users: list[str] | None = None
    weights: dict[str, float] | None = None


class NewUser(BaseModel):
    user_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")
    integrations: list[str] = Field(default_factory=lambda: [s.integration for s in SERVICES])


def _problem(status: int, detail: str) -> Response:
    return json_response({"title": "Bad request" if status == 400 else "Not found", "status": status,
                          "detail": detail}, status)


def _parse(request: Request, model: type[BaseModel]) -> BaseModel | Response:
    try:
        return model.model_validate_json(request.get_data() or b"{}")
    except ValidationError as exc:
        return _problem(400, str(exc))


class Admin:
    def __init__(self, state: SandboxState):
        self.state = state

    def info(self, request: Request) -> Response:
        state = self.state
        users = [{"user_id": u.user_id, "studio": u.studio.name, "mailbox": u.mailbox.email,
                  "records": u.record_count(),
                  "connections": {c.integration: c.connection_id for c in state.registry.listing()
                                  if c.account == u.user_id}}
                 for u in state.world.users()]
        return json_response({"seed": state.config.seed, "scale": state.config.scale,
                              "now": state.world.start_ms, "clock": state.world.clock_ms,
                              "batches": state.world.batches, "users": users,
                              "webhook_url": state.webhooks.url,
                              "limits": state.limits.config.model_dump(),
                              "faults": state.faults.config.model_dump(), "injected": state.faults.injected})

    def changes(self, request: Request) -> Response:
        body = _parse(request, ChangeRequest)
        if isinstance(body, Response):
            return body
        try:
            summary = apply_batch(self.state.world, fraction=body.fraction, count=body.count, users=body.users,
                                  weights=body.weights)
        except ValueError as exc:
            return _problem(400, str(exc))
        return json_response(summary)

    def add_user(self, request: Request) -> Response:
        body = _parse(request, NewUser)
        if isinstance(body, Response):
            return body
        connections = self.state.add_user(body.user_id, body.integrations)
        return json_response({"user_id": body.user_id,
                              "connections": {c.integration: c.connection_id for c in connections}}, 201)

    def truth(self, request: Request, user_id: str) -> Response:
        return json_response(self.state.world.truth(user_id))

    def expire_history(self, request: Request, user_id: str) -> Response:
        user = self.state.world.user(user_id)
        with user.lock:
            user.mailbox.expire_history()
            return json_response({"history_floor": str(user.mailbox.history_floor)})

    def expire_asana_sync(self, request: Request, user_id: str) -> Response:
        """Expire Asana sync tokens now: of one resource's stream (`{"resource": gid}`) or all of them."""
        resource = (request.get_json(silent=True) or {}).get("resource")
        if resource is not None and not (isinstance(resource, str) and resource):
            return _problem(400, "resource must be a gid string or absent")
        user = self.state.world.user(user_id)
        with user.lock:
            return json_response({"resource": resource, "expired": user.workspace.events.expire(resource)})

    def xero_day_remaining(self, request: Request, user_id: str) -> Response:
        remaining = (request.get_json(silent=True) or {}).get("remaining")
        if not isinstance(remaining, int) or remaining < 0:
            return _problem(400, "remaining must be a non-negative integer")
        self.state.limits.set_xero_day_remaining(self.state.world.user(user_id).org.tenant_id, remaining)
        return json_response({"remaining": remaining})

    def faults(self, request: Request) -> Response:
        if request.method == "PUT":
            try:
                self.state.faults.configure(FaultConfig.model_validate_json(request.get_data() or b"{}"))
            except (ValidationError, ValueError) as exc:
                return _problem(400, str(exc))
        return json_response({"config": self.state.faults.config.model_dump(), "injected": self.state.faults.injected})

    def limits(self, request: Request) -> Response:
        if request.method == "PUT":
            parsed = _parse(request, LimitConfig)
            if isinstance(parsed, Response):
                return parsed
            self.state.limits.config = parsed
        return json_response(self.state.limits.config.model_dump())

    def webhooks(self, request: Request) -> Response:
        if request.method == "PUT":
            url = (request.get_json(silent=True) or {}).get("url")
            if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
                return _problem(400, "url must be an http(s) URL or null")
            self.state.webhooks.url = url
        if request.args.get("flush") == "true":
            self.state.webhooks.flush()
        return json_response({"url": self.state.webhooks.url, "deliveries": self.state.webhooks.deliveries})

    def break_connection(self, request: Request, connection_id: str) -> Response:
        connection = self.state.registry.find(connection_id)
        if connection is None:
            return _problem(404, f"no connection {connection_id}")
        connection.errors = [{"type": "auth", "log_id": f"log_{connection.id}_{len(connection.errors) + 1}"}]
        self.state.webhooks.auth_event(connection, "refresh", success=False,
                                         error={"type": "refresh_token_external_error",
                                                "description": "invalid_grant: Token has been expired or revoked."})
        return json_response(connection.summary_json())

    def n8n_calls(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.state.n8n.clear()
        return json_response({"calls": self.state.n8n.snapshot()})

    def n8n_instance(self, request: Request) -> Response:
        if request.method == "PUT":
            parsed = _parse(request, Instance)
            if isinstance(parsed, Response):
                return parsed
            self.state.n8n.configure_instance(parsed)
        return json_response(self.state.n8n.state())

    def n8n_restart(self, request: Request) -> Response:
        parsed = _parse(request, Restart)
        if isinstance(parsed, Response):
            return parsed
        self.state.n8n.restart(parsed)
        return json_response(self.state.n8n.state())

    def n8n_callbacks(self, request: Request) -> Response:
        released = self.state.n8n.release() if request.method == "POST" else []
        return json_response({"released": released, "callbacks": self.state.n8n.callback_log()})

    def n8n_workflow(self, request: Request, path: str) -> Response:
        if request.method == "DELETE":
            self.state.n8n.configure(path, None)
            return json_response({"path": path, "registered": False})
        parsed = _parse(request, Workflow)
        if isinstance(parsed, Response):
            return parsed
        self.state.n8n.configure(path, parsed)
        return json_response({"path": path, "registered": True, "workflow": parsed.model_dump()})
