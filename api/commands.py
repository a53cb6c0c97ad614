"""Agents act: `GET /v1/capabilities`, `POST /v1/commands` (Standard Webhooks-signed), `GET /v1/commands/<id>`;
n8n reports long-running commands' results: `POST /v1/commands/<id>/result` (signed with n8n's secret)."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Blueprint, Response, current_app, json, request

from api.auth import authenticate, client_address
from api.bodies import BodyTooLarge, InvalidJson, parse_json, read_body
from api.context import external_url
from api.problems import Problem
from sylo.commands.catalog import capabilities
from sylo.commands.delivery import expire_approvals, expire_overdue
from sylo.commands.outbox import Command, now
from sylo.commands.results import RESULT_MAX_BYTES
from sylo.commands.service import Refused

bp = Blueprint("commands", __name__)
COMMAND_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")  # the column's width; anything else cannot be a command


def _service():
    return current_app.extensions["sylo"].commands


@bp.get("/v1/capabilities")
def list_capabilities() -> Response:
    """Every action an agent may send, with its parameter JSON Schema."""
    response = current_app.json.response({"actions": capabilities(), "signing": {
        "scheme": "Standard Webhooks v1", "headers": ["webhook-id", "webhook-timestamp", "webhook-signature"],
        "tolerance_seconds": 300, "body": {"action": "<action>", "params": {}}}})
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.post("/v1/commands")
def submit_command() -> Response:
    """Verify, deduplicate, rate-limit, validate and store a command, then forward it."""
    service, address = _service(), client_address()
    try:
        service.admit(address)
        body = _read_command(service, address)
        user_id, message_id = service.verify(body, request.headers, address)
        submitted = service.submit(user_id, message_id, _parse(body), "http")
    except Refused as refused:
        raise _problem(refused) from None
    return command_response(submitted.command, replayed=submitted.replayed)


def _read_command(service, address: str) -> bytes:
    """The body, never more than SYLO_COMMAND_MAX_BYTES of it (chunked bodies included)."""
    try:
        return read_body(current_app.extensions["sylo"].settings.command_max_bytes)
    except BodyTooLarge as too_large:
        service.refuse_unverified(address, "body too large", request.headers.get("webhook-id"))
        raise Refused(413, "too-large", f"Command bodies are limited to {too_large.limit} bytes.") from None


def _parse(body: bytes) -> object:
    """The command's JSON, or None, which the service refuses as malformed (and audits)."""
    try:
        return parse_json(body)
    except InvalidJson:
        return None


def _problem(refused: Refused) -> Problem:
    headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after else {}
    if refused.status == 401:
        headers["WWW-Authenticate"] = 'Standard-Webhooks realm="sylo"'
    extra = {**refused.extra, **({"errors": refused.errors} if refused.errors else {})}
    return Problem(refused.status, refused.slug, _TITLES.get(refused.status, "Refused"), refused.detail,
                   headers=headers, **extra)


@bp.get("/v1/commands/<command_id>")
def get_command(command_id: str) -> Response:
    """A command's status, attempts, and n8n's result or the error (the caller's own commands only)."""
    user_id = authenticate().user_id
    command = read_command(command_id, user_id) if COMMAND_ID.fullmatch(command_id) else None
    if command is None:
        raise Problem(404, "unknown-command", "Unknown command", f"You have no command {command_id!r}.")
    return command_response(command, status=200)


@bp.post("/v1/commands/<command_id>/result")
def report_result(command_id: str) -> Response:
    """n8n reports the outcome of a command it answered 202 running for (Standard Webhooks, n8n's secret)."""
    results = current_app.extensions["sylo"].command_results
    try:
        try:
            body = read_body(RESULT_MAX_BYTES)
        except BodyTooLarge:
            results.too_large(request.headers.get("webhook-id"))
        command = results.accept(command_id, body, request.headers)
    except Refused as refused:
        headers = {"WWW-Authenticate": 'Standard-Webhooks realm="sylo-n8n"'} if refused.status == 401 else {}
        raise Problem(refused.status, refused.slug, _TITLES.get(refused.status, "Refused"), refused.detail,
                      headers=headers) from None
    return current_app.json.response({"id": command.id, "status": command.status})


def read_command(command_id: str, user_id: str) -> Command | None:
    """The caller's command; a running one past its result's due time is failed first, and one held
    for approval past the approval TTL is expired first."""
    service = _service()
    command = service.outbox.get(command_id, user_id=user_id)
    if command is not None and command.overdue(now()):
        settings = current_app.extensions["sylo"].settings
        expire_overdue(service.outbox, timedelta(minutes=settings.command_result_timeout_minutes), command.id)
        command = service.outbox.get(command_id, user_id=user_id)
    elif command is not None and command.status == "awaiting_approval" \
            and command.created_at + service.approval_ttl <= now():
        expire_approvals(service.outbox, service.approval_ttl, command.id)
        command = service.outbox.get(command_id, user_id=user_id)
    return command


# What a command held for the owner means for the agent, in a sentence it can relay.
NOTES = {
    "awaiting_approval": "Waiting for the studio owner's approval; nothing has been done yet. Check again later "
                         "with get_command_status (or GET status_url); do not send it again.",
    "declined": "The studio owner declined it, so it was not done. Do not send it again unless the owner asks.",
    "expired": "The studio owner did not approve it in time, so it was not done. Ask the owner before sending "
               "it again.",
}


def describe(command: Command) -> dict:
    body = {"id": command.id, "action": command.action, "status": command.status, "attempts": command.attempts,
            "created_at": command.created_at.isoformat(), "updated_at": command.updated_at.isoformat(),
            "status_url": external_url("commands.get_command", command_id=command.id)}
    if command.result is not None:
        body["result"] = command.result
    if command.last_error:
        body["error" if command.status == "failed" else "last_error"] = command.last_error
    if command.status == "queued" and command.attempts:
        body["next_attempt_at"] = command.next_attempt_at.isoformat()
    if command.status == "running" and command.result_due_at:
        body["result_due_by"] = command.result_due_at.isoformat()
    if command.status == "awaiting_approval":
        body["approval_expires_at"] = (command.created_at + _service().approval_ttl).isoformat()
    if command.decided_at:
        body["decided_at"] = command.decided_at.isoformat()
    if command.status in NOTES:
        body["note"] = NOTES[command.status]
    return body


def command_response(command: Command, *, replayed: bool = False, status: int | None = None) -> Response:
    body = describe(command)
    if replayed:
        body["replayed"] = True
    code = status or FINAL_CODES.get(command.status, 202)
    if code == 502:
        body = {"type": "urn:sylo:problem:n8n-refused", "title": "Bad Gateway", "status": 502,
                "detail": command.last_error or "n8n refused the command.", "instance": body["status_url"],
                "command": body}
    response = Response(json.dumps(body), status=code,
                        mimetype="application/problem+json" if code == 502 else "application/json")
    response.headers["Cache-Control"] = "no-store"
    if code == 202:
        response.headers["Location"] = body["status_url"]
    return response


# A command that reached its end answers 200 (502 when n8n refused it); any other status is 202, still under way.
FINAL_CODES = {"delivered": 200, "succeeded": 200, "declined": 200, "expired": 200, "failed": 502}
_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
           413: "Payload Too Large", 422: "Unprocessable Content", 429: "Too Many Requests", 503: "Service Unavailable"}
