"""Results of long-running commands, reported by n8n: `POST /v1/commands/<id>/result`.

A workflow that answered `202 {"status": "running"}` reports later with
`{"status": "succeeded"|"failed", "result": {...}}` or `{"error": "..."}`, signed with
SYLO_N8N_SIGNING_SECRET (Standard Webhooks, the same secret Sylo signs commands with). It may
echo the command's `id` and `user_id` from what Sylo sent; they are then checked against the
command in the URL, which binds the signature (that covers the body only) to that command. Each
report's webhook-id counts once, for any command: a replayed report is refused even when sent to
another command's URL. Every refusal is audited; before the signature verifies nobody is named,
after it the command's owner is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sylo.commands import signing
from sylo.commands.outbox import Command, CommandFinished, Outbox, ResultReplayed
from sylo.commands.service import Refused

RESULT_MAX_BYTES = 256 * 1024


class Report(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, max_length=40, description="The command's id, as Sylo sent it.")
    user_id: str | None = Field(None, max_length=100, description="The command's user, as Sylo sent it.")
    status: Literal["succeeded", "failed"] | None = None
    result: Any = None
    error: str | None = Field(None, min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _status(self) -> "Report":
        if self.status is None:
            if self.error is None:
                raise ValueError('give "status" ("succeeded" or "failed") or an "error"')
            self.status = "failed"
        if self.status == "succeeded" and self.error is not None:
            raise ValueError('a "succeeded" result carries no "error"')
        return self


class ResultIntake:
    """Verifies n8n's result reports, matches each to its command, and settles the command once."""

    def __init__(self, outbox: Outbox, signing_secret: str | None):
        self.outbox = outbox
        self.keys = [signing.secret_key(signing_secret)] if signing_secret else []

    def accept(self, command_id: str, body: bytes, headers: Mapping[str, str]) -> Command:
        """The settled command; Refused (audited) for anything forged, replayed, late or misdirected."""
        message_id = headers.get("webhook-id")
        if not self.keys:
            self._refuse(None, None, message_id, 503, "results-disabled", "SYLO_N8N_SIGNING_SECRET is not set, so "
                         "results reported by n8n cannot be verified and are not accepted.")
        if len(body) > RESULT_MAX_BYTES:
            self.too_large(message_id)
        message_id = self._verify(body, headers)
        command = self.outbox.get(command_id)
        if command is None:
            self._refuse(None, None, message_id, 404, "unknown-command", f"There is no command {command_id[:60]!r}.")
        report = self._parse(command, message_id, body)
        if report.id not in (None, command.id) or report.user_id not in (None, command.user_id):
            self._refuse(command, command.user_id, message_id, 409, "command-mismatch",
                         "The result names another command or user than the URL's command.")
        try:
            return self.outbox.report_result(command, message_id, report.status, report.result, report.error)
        except ResultReplayed:
            self._refuse(command, command.user_id, message_id, 409, "result-replayed",
                         "This webhook-id already carried a result; each report is accepted once.")
        except CommandFinished as finished:
            self._refuse(command, command.user_id, message_id, 409, "command-finished",
                         f"The command is already {finished}; its outcome does not change.")

    def too_large(self, message_id: str | None) -> None:
        self._refuse(None, None, message_id, 413, "too-large", f"Results are limited to {RESULT_MAX_BYTES} bytes.")

    def _verify(self, body: bytes, headers: Mapping[str, str]) -> str:
        try:
            message_id, timestamp, signatures = signing.check_headers(headers)
        except signing.SignatureError as error:
            slug = "stale-timestamp" if "timestamp is more" in str(error) else "invalid-signature"
            self._refuse(None, None, headers.get("webhook-id"), 401, slug, f"Signature refused: {error}.")
        if not signing.matches(self.keys, message_id, timestamp, body, signatures):
            self._refuse(None, None, message_id, 401, "invalid-signature",
                         "Signature refused: sign webhook-id.webhook-timestamp.body with SYLO_N8N_SIGNING_SECRET.")
        return message_id

    def _parse(self, command: Command, message_id: str, body: bytes) -> Report:
        try:
            return Report.model_validate_json(body)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())
            self._refuse(command, command.user_id, message_id, 422, "invalid-result",
                         'A result is {"status": "succeeded"|"failed", "result": ...} or {"error": "..."}: '
                         + problems[:300])

    def _refuse(self, command: Command | None, user_id: str | None, message_id: str | None, status: int, slug: str,
                detail: str) -> None:
        self.outbox.audit(user_id, "command.result_refused", "refused", command_id=command.id if command else None,
                          action=command.action if command else None, message_id=(message_id or "")[:255] or None,
                          source="n8n", detail=f"{status} {slug}: {detail}"[:500])
        raise Refused(status, slug, detail)
