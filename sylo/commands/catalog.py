"""The capability catalog: every action an agent may ask for, with its parameters as a pydantic model.

Actions are `<service>.<verb>`; each is also an MCP tool named `<service>_<verb>`, because real
clients refuse a whole toolset when one name falls outside `^[a-zA-Z0-9_-]{1,64}$`
(reference/protocols.md §1.8b). The model is the contract: `GET /v1/capabilities` publishes its
JSON Schema, a command's params are validated against it before anything is stored, and what is
forwarded to n8n is the validated, re-serialised params, never the caller's raw bytes. Every
parameter says which context-document field it comes from, so a model never guesses an id.
`veo.*` and `meta.*` run entirely inside the studio's n8n workflows.

`reaches_outside` marks what leaves the studio: mail to a client, a reminder, a public post, a
paid job at an outside service. Such actions wait for the owner's approval unless the owner
allows them (sylo/commands/policy.py), and count against the daily cap on external actions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, WithJsonSchema, model_validator

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # what Claude and the OpenAI clients accept


def _gid_text(value: object) -> object:
    """Asana gids are strings of digits, but models often send them as JSON numbers: take both."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


# Patterns name their characters: in pydantic's (Rust) regex, as in Python's, \d matches any
# Unicode digit ("١٢٣"), which no Asana gid or Xero id contains.
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)]
AsanaGid = Annotated[str, BeforeValidator(_gid_text), StringConstraints(pattern=r"^[0-9]{1,32}$"),
                     WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^[0-9]{1,32}$"},
                                               {"type": "integer", "minimum": 0}]})]
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


# Where each id comes from, in the context documents (the same paths under `all`, e.g. all.tasks.overdue[]).
TASK_GID = ("The task's `id` in tasks.json (`overdue[].id`, `due_soon[].id` or `recently_completed[].id`); "
            "a string of digits, or the same digits as a number.")
THREAD_ID = "A thread's `id` in communications.json (`threads[].id`): the Gmail thread id."
ISO_DATE = "A date as YYYY-MM-DD."


class AsanaCreateTask(Params):
    project_gid: AsanaGid = Field(description="The Asana project the task goes into: a project's `id` in projects.json "
                                              "(`projects[].id`) or a task's `project_id` in tasks.json.")
    name: str = Field(min_length=1, max_length=500, description="The task's name, as people will see it in Asana.")
    notes: str | None = Field(None, max_length=10_000, description="The task's description (plain text).")
    due_on: date | None = Field(None, description="When the task is due. " + ISO_DATE)
    assignee_gid: AsanaGid | None = Field(None, description="Who does it: an `assignee_gid` from tasks.json "
                                                            "(`overdue[].assignee_gid`, ...). Leave out to leave "
                                                            "the task unassigned.")
    assignee_email: Email | None = Field(None, description="Who does it, by the email of their Asana account (an "
                                                           "alternative to assignee_gid; the documents carry gids).")

    @model_validator(mode="after")
    def _one_assignee(self) -> "AsanaCreateTask":
        if self.assignee_gid and self.assignee_email:
            raise ValueError("give assignee_gid or assignee_email, not both")
        return self


class AsanaCompleteTask(Params):
    task_gid: AsanaGid = Field(description="The task to mark complete. " + TASK_GID)


class AsanaComment(Params):
    task_gid: AsanaGid = Field(description="The task to comment on. " + TASK_GID)
    text: str = Field(min_length=1, max_length=10_000, description="The comment (plain text).")


class GmailDraftReply(Params):
    thread_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$",
                           description="The thread to reply in. " + THREAD_ID)
    body: str = Field(min_length=1, max_length=20_000, description="Plain-text reply; saved as a draft, not sent.")


class GmailSendEmail(Params):
    to: list[Email] = Field(min_length=1, max_length=20, description="Recipients' email addresses, e.g. a thread's "
                                                                     "`counterpart_email` in communications.json.")
    cc: list[Email] = Field(default_factory=list, max_length=20, description="Copied recipients' email addresses.")
    subject: str = Field(min_length=1, max_length=300, description="The subject line.")
    body: str = Field(min_length=1, max_length=20_000, description="The message (plain text).")
    reply_to_thread_id: str | None = Field(None, max_length=100, pattern=r"^[A-Za-z0-9_-]+$",
                                           description="Send it as a reply in this thread. " + THREAD_ID)


class InvoiceLine(Params):
    description: str = Field(min_length=1, max_length=4000, description="What the line bills for.")
    quantity: AsciiDecimal = Field(gt=0, max_digits=12, decimal_places=4,
                                   description="How many, e.g. 2 or \"1.5\" (hours, days, items).")
    unit_amount: AsciiDecimal = Field(ge=0, max_digits=14, decimal_places=4,
                                      description="Price of one unit in the invoice's currency, e.g. \"1200.50\".")
    account_code: str | None = Field(None, max_length=10, description="The Xero sales account code; leave out for "
                                                                      "the contact's default.")


class XeroCreateDraftInvoice(Params):
    contact_id: XeroId = Field(description="The client's Xero contact id: an invoice's `contact_id` in financials.json "
                                           "(`overdue_invoices[].contact_id`, `due_in_30_days[].contact_id`) or a "
                                           "project's `client_contact_id` in projects.json.")
    line_items: list[InvoiceLine] = Field(min_length=1, max_length=100, description="The invoice's lines.")
    due_date: date | None = Field(None, description="When payment is due. " + ISO_DATE)
    reference: str | None = Field(None, max_length=255, description="The invoice's reference, e.g. the project's name.")
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. GBP; leave out for "
                                                                         "the contact's default.")


class XeroSendInvoiceReminder(Params):
    invoice_id: XeroId = Field(description="The invoice to chase: an `id` in financials.json `overdue_invoices[]`.")


class VeoGenerateVideo(Params):
    prompt: str = Field(min_length=1, max_length=2000, description="What the video shows, in words.")
    duration_seconds: int = Field(8, ge=1, le=60, description="Length in seconds.")
    aspect_ratio: Literal["16:9", "9:16", "1:1"] = Field("16:9", description="16:9 landscape, 9:16 portrait (stories, "
                                                                            "reels) or 1:1 square.")


class MetaPublishPost(Params):
    platform: Literal["facebook", "instagram"] = Field(description="Where to post: the studio's Facebook page or "
                                                                   "Instagram account.")
    caption: str = Field(min_length=1, max_length=2200, description="The post's text.")
    media_url: HttpsUrl | None = Field(None, description="An https link to the image or video to post with it.")
    scheduled_at: datetime | None = Field(None, description="Publish later (ISO 8601 with offset); default now.")


@dataclass(frozen=True)
class Action:
    name: str
    description: str
    params: type[Params]
    destructive: bool = False
    reaches_outside: bool = False  # reaches a client, the public or a paid outside service (see the docstring)

    @property
    def service(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def tool_name(self) -> str:
        """The MCP tool's name: the action's, with `_` for the dot (`asana_create_task`)."""
        return self.name.replace(".", "_")

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
    Action("gmail.send_email", "Send an email from the studio's Gmail account.", GmailSendEmail, destructive=True,
           reaches_outside=True),
    Action("xero.create_draft_invoice", "Create a draft (unsent, unapproved) invoice in Xero for a contact.",
           XeroCreateDraftInvoice),
    Action("xero.send_invoice_reminder", "Email a Xero invoice's contact a payment reminder.",
           XeroSendInvoiceReminder, destructive=True, reaches_outside=True),
    # Google's Veo is an outside service billed per second of video: it asks by default.
    Action("veo.generate_video", "Generate a short video from a prompt (runs in the studio's n8n workflow).",
           VeoGenerateVideo, reaches_outside=True),
    Action("meta.publish_post", "Publish (or schedule) a post on the studio's Facebook or Instagram page.",
           MetaPublishPost, destructive=True, reaches_outside=True),
)}


TOOLS: dict[str, Action] = {action.tool_name: action for action in CATALOG.values()}
assert len(TOOLS) == len(CATALOG) and all(TOOL_NAME.fullmatch(name) for name in TOOLS), "tool names must be unique and valid"


def capabilities() -> list[dict]:
    """Every action with its MCP tool name, description and parameter JSON Schema, in catalog order."""
    return [{"action": a.name, "tool": a.tool_name, "service": a.service, "description": a.description,
             "destructive": a.destructive, "reaches_outside": a.reaches_outside, "params_schema": a.schema()}
            for a in CATALOG.values()]
