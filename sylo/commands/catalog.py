"""The capability catalog: every action an agent may ask for, with its parameters as a pydantic model.

Actions are `<service>.<verb>`. The model is the contract: `GET /v1/capabilities` publishes its
JSON Schema, a command's params are validated against it before anything is stored, and what is
forwarded to n8n is the validated, re-serialised params, never the caller's raw bytes.
`veo.*` and `meta.*` run entirely inside the studio's n8n workflows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

# Patterns name their characters: in pydantic's (Rust) regex, as in Python's, \d matches any
# Unicode digit ("١٢٣"), which no Asana gid or Xero id contains.
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)]
AsanaGid = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,32}$")]
XeroId = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F-]{36}$")]
HttpsUrl = Annotated[str, StringConstraints(pattern=r"^https://\S+$", max_length=2000)]
_DECIMAL_TEXT = re.compile(r"\s*-?[0-9]+(\.[0-9]+)?\s*")

# Where every action is delivered unless SYLO_N8N_ROUTES sends it elsewhere (the example workflow's path).
DEFAULT_PATH = "/webhook/sylo-commands"


def _ascii_decimal(value: object) -> object:
    """Decimal("١٢٣") is 123 to Python: an amount sent as text must be written in ASCII digits."""
    if isinstance(value, str) and not _DECIMAL_TEXT.fullmatch(value):
        raise ValueError("an amount as text is ASCII digits with an optional '.' and '-', such as '120.50'")
    return value


AsciiDecimal = Annotated[Decimal, BeforeValidator(_ascii_decimal)]


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AsanaCreateTask(Params):
    project_gid: AsanaGid = Field(description="The Asana project the task goes into.")
    name: str = Field(min_length=1, max_length=500)
    notes: str | None = Field(None, max_length=10_000)
    due_on: date | None = None
    assignee_email: Email | None = None


class AsanaCompleteTask(Params):
    task_gid: AsanaGid


class AsanaComment(Params):
    task_gid: AsanaGid
    text: str = Field(min_length=1, max_length=10_000)


class GmailDraftReply(Params):
    thread_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")
    body: str = Field(min_length=1, max_length=20_000, description="Plain-text reply; saved as a draft, not sent.")


class GmailSendEmail(Params):
    to: list[Email] = Field(min_length=1, max_length=20)
    cc: list[Email] = Field(default_factory=list, max_length=20)
    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=20_000)
    reply_to_thread_id: str | None = Field(None, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")


class InvoiceLine(Params):
    description: str = Field(min_length=1, max_length=4000)
    quantity: AsciiDecimal = Field(gt=0, max_digits=12, decimal_places=4)
    unit_amount: AsciiDecimal = Field(ge=0, max_digits=14, decimal_places=4)
    account_code: str | None = Field(None, max_length=10)


class XeroCreateDraftInvoice(Params):
    contact_id: XeroId
    line_items: list[InvoiceLine] = Field(min_length=1, max_length=100)
    due_date: date | None = None
    reference: str | None = Field(None, max_length=255)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")


class XeroSendInvoiceReminder(Params):
    invoice_id: XeroId


class VeoGenerateVideo(Params):
    prompt: str = Field(min_length=1, max_length=2000)
    duration_seconds: int = Field(8, ge=1, le=60)
    aspect_ratio: Literal["16:9", "9:16", "1:1"] = "16:9"


class MetaPublishPost(Params):
    platform: Literal["facebook", "instagram"]
    caption: str = Field(min_length=1, max_length=2200)
    media_url: HttpsUrl | None = None
    scheduled_at: datetime | None = Field(None, description="Publish later (ISO 8601 with offset); default now.")


@dataclass(frozen=True)
class Action:
    name: str
    description: str
    params: type[Params]
    destructive: bool = False

    @property
    def service(self) -> str:
        return self.name.split(".", 1)[0]

    def schema(self) -> dict:
        schema = self.params.model_json_schema()
        schema.pop("title", None)
        return schema


CATALOG: dict[str, Action] = {action.name: action for action in (
    Action("asana.create_task", "Create a task in an Asana project, optionally assigned and with a due date.",
           AsanaCreateTask),
    Action("asana.complete_task", "Mark an Asana task complete.", AsanaCompleteTask),
    Action("asana.comment", "Add a comment to an Asana task.", AsanaComment),
    Action("gmail.draft_reply", "Save a reply in a Gmail thread as a draft for a person to review and send.",
           GmailDraftReply),
    Action("gmail.send_email", "Send an email from the studio's Gmail account.", GmailSendEmail, destructive=True),
    Action("xero.create_draft_invoice", "Create a draft (unsent, unapproved) invoice in Xero for a contact.",
           XeroCreateDraftInvoice),
    Action("xero.send_invoice_reminder", "Email a Xero invoice's contact a payment reminder.",
           XeroSendInvoiceReminder, destructive=True),
    Action("veo.generate_video", "Generate a short video from a prompt (runs in the studio's n8n workflow).",
           VeoGenerateVideo),
    Action("meta.publish_post", "Publish (or schedule) a post on the studio's Facebook or Instagram page.",
           MetaPublishPost, destructive=True),
)}


def capabilities() -> list[dict]:
    """Every action with its description and parameter JSON Schema, in catalog order."""
    return [{"action": a.name, "service": a.service, "description": a.description, "destructive": a.destructive,
             "params_schema": a.schema()} for a in CATALOG.values()]
