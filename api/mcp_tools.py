"""What the MCP server offers one caller: their documents as resources, tools that read them, and the
catalog's actions as tools, each limited to what the caller's token or OAuth grant allows.

Resources are attached by the host application; models can only call tools, so the same
documents are reachable through `list_context_docs` and `get_context_doc` (reference/protocols.md §1.4).
Tool failures a model can act on (a document not exported yet, a bad argument) are results with
`isError: true`; an unknown tool is a protocol error. Tool names match `^[a-zA-Z0-9_-]{1,64}$`
(real clients refuse a toolset otherwise); the catalog maps each to its dotted action.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Literal

import mcp_types as types
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from api.document_store import FORMATS, KINDS, DocumentStore
from api.mcp_protocol import INVALID_PARAMS, Era, RpcError
from sylo.commands.catalog import CATALOG, Action
from sylo import read_kinds
from sylo.commands.service import Refused
from sylo.oauth.scopes import READ, WRITE

URI_PREFIX = "sylo://context/"
URI_TEMPLATE = URI_PREFIX + "{kind}.{format}"
IDEMPOTENCY_KEY = ("Optional. Any text unique to this one intended action, e.g. a UUID you make up. Send the same "
                   "key again when you retry after a timeout or an error: Sylo then returns the first command "
                   "instead of acting twice.")


class NoArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GetCommandStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command_id: str = Field(pattern=r"^cmd_[0-9a-f]{24}$",
                            description="The `id` a command tool returned when you sent the command (cmd_...).")


class GetContextDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal[KINDS] = Field(description="Which document: 'all' is the briefing that fits a token budget; "
                                             "projects, communications, tasks and financials are complete.")
    format: Literal[FORMATS] = Field("md", description="md to read; json for exact fields and the ids actions take "
                                                       "(structured, with a schema); yaml like json.")


CONTEXT_DOC_OUTPUT = {
    "type": "object",
    "required": ["kind", "format", "uri", "generated_at"],
    "properties": {
        "kind": {"enum": list(KINDS)}, "format": {"enum": list(FORMATS)}, "uri": {"type": "string"},
        "generated_at": {"anyOf": [{"type": "string"}, {"type": "null"}],  # one type per branch: portable
                         "description": "When Sylo's pipeline wrote the document."},
        "text": {"type": "string", "description": "The document, for md and yaml."},
        "document": {"type": "object", "description": "The document, for json: the schema is "
                     "schemas/context/<kind>.schema.json in Sylo's repository. Every body carries `availability`; "
                     "ids for actions: projects[].id, tasks' overdue[].id, threads[].id, overdue_invoices[].id.",
                     "required": ["kind", "as_of", "freshness"],
                     "properties": {"kind": {"enum": list(KINDS)}, "as_of": {"type": "string"},
                                    "freshness": {"type": "array"}}},
    },
}


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    description: str
    arguments: type[BaseModel]
    run: Callable[["UserContext", Any], types.CallToolResult]
    scope: str = READ
    read_only: bool = True
    destructive: bool = False
    output_schema: dict | None = None

    def describe(self) -> types.Tool:
        schema = self.arguments.model_json_schema()
        schema.pop("title", None)
        return types.Tool(name=self.name, title=self.title, description=self.description, input_schema=schema,
                          output_schema=self.output_schema,
                          annotations=types.ToolAnnotations(title=self.title, read_only_hint=self.read_only,
                                                            destructive_hint=self.destructive,
                                                            idempotent_hint=self.read_only,
                                                            open_world_hint=not self.read_only))


def text_result(data: Any, is_error: bool = False) -> types.CallToolResult:
    """A tool result with structured data and the same data as text, for clients that only read text."""
    text = data if isinstance(data, str) else json.dumps(data, indent=2, default=str)
    structured = None if isinstance(data, str) else data
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                structured_content=structured, is_error=is_error)


class UserContext:
    """One caller's view: every handler here sees only `user_id`'s export, only the document kinds its
    token or grant may read, and only the tools its scopes allow."""

    def __init__(self, store: DocumentStore, user_id: str, tools: list[Tool], granted: tuple[str, ...],
                 kinds: tuple[str, ...] = read_kinds.PARTS):
        self.store, self.user_id, self.granted, self.kinds = store, user_id, granted, kinds
        self.all_tools = {tool.name: tool for tool in tools}
        self.tools = {name: tool for name, tool in self.all_tools.items() if tool.scope in granted}

    def may_read(self, kind: str) -> bool:
        return read_kinds.may_read(self.kinds, kind)

    def cannot_read(self, kind: str) -> str:
        """Why `kind` is refused, in words a model can relay and act on."""
        if kind == read_kinds.BRIEFING:
            return (f"This connection may not read the 'all' briefing: it may read {read_kinds.describe(self.kinds)} "
                    "only, and 'all' is made of every kind. Read those documents one by one.")
        return (f"This connection may not read {kind}: the studio owner allowed it "
                f"{read_kinds.describe(self.kinds)} only.")

    def readable_documents(self) -> list:
        """The caller's exported documents of the kinds it may read."""
        return [doc for doc in self.store.documents(self.user_id) if self.may_read(doc.kind)]

    def methods(self) -> dict[str, Callable[[dict, Era], Any]]:
        from api.mcp_prompts import Prompts

        prompts = Prompts(self.store, self.user_id, self.kinds)
        return {"resources/list": self.list_resources, "resources/templates/list": self.list_templates,
                "resources/read": self.read_resource, "tools/list": self.list_tools, "tools/call": self.call_tool,
                "prompts/list": prompts.list, "prompts/get": prompts.get}

    def required_scope(self, message: object) -> str | None:
        """The scope a JSON-RPC message needs, when the caller's token might lack it (checked before answering)."""
        if not isinstance(message, dict) or not isinstance(message.get("method"), str):
            return None
        method, params = message["method"], message.get("params")
        if method == "tools/call" and isinstance(params, dict) and isinstance(params.get("name"), str):
            tool = self.all_tools.get(params["name"])
            return tool.scope if tool is not None else None
        return READ if method.startswith(("resources/", "prompts/")) else None

    def list_resources(self, _params: dict, _era: Era) -> types.ListResourcesResult:
        """One entry per document, in Markdown; JSON and YAML through the template."""
        resources = [types.Resource(uri=URI_PREFIX + doc.name, name=doc.name, title=doc.title,
                                    description=f"Your {doc.title.lower()}, exported {doc.generated_at}. Also as "
                                                f"{URI_PREFIX}{doc.kind}.json and .yaml.",
                                    mime_type=doc.media_type.split(";")[0], size=doc.bytes)
                     for doc in self.readable_documents() if doc.format == "md"]
        return types.ListResourcesResult(resources=resources, ttl_ms=0, cache_scope="private")

    def list_templates(self, _params: dict, _era: Era) -> types.ListResourceTemplatesResult:
        template = types.ResourceTemplate(
            uri_template=URI_TEMPLATE, name="context-document", title="Context document",
            description=f"kind is one of {', '.join(read_kinds.readable(self.kinds)) or 'none (reading is not allowed)'}; "
                        f"format one of {', '.join(FORMATS)}.")
        return types.ListResourceTemplatesResult(resource_templates=[template], ttl_ms=0, cache_scope="private")

    def read_resource(self, params: dict, era: Era) -> types.ReadResourceResult:
        uri = params.get("uri")
        if not isinstance(uri, str):
            raise RpcError(INVALID_PARAMS, "resources/read needs params.uri, a string.")
        kind, _, fmt = uri.removeprefix(URI_PREFIX).partition(".") if uri.startswith(URI_PREFIX) else ("", "", "")
        if kind in KINDS and fmt in FORMATS and not self.may_read(kind):
            raise RpcError(era.not_found_code(), self.cannot_read(kind), {"uri": uri, "reason": "kind-not-readable"})
        document = self.store.read(self.user_id, kind, fmt) if kind in KINDS and fmt in FORMATS else None
        if document is None:
            raise RpcError(era.not_found_code(), f"Resource not found: {uri}", {"uri": uri})
        content = types.TextResourceContents(uri=uri, mime_type=document.media_type.split(";")[0],
                                             text=document.body.decode("utf-8"))
        return types.ReadResourceResult(contents=[content], ttl_ms=0, cache_scope="private")

    def list_tools(self, _params: dict, _era: Era) -> types.ListToolsResult:
        """The tools this caller may use; an action the owner set to Never is not offered at all."""
        hidden = {CATALOG[action].tool_name for action in denied_actions(self.user_id)} if self.tools else set()
        return types.ListToolsResult(tools=[tool.describe() for name, tool in self.tools.items() if name not in hidden],
                                     ttl_ms=0, cache_scope="private")

    def call_tool(self, params: dict, _era: Era) -> types.CallToolResult:
        call = request_params(types.CallToolRequestParams, params)
        tool = self.tools.get(call.name)
        if tool is None:
            raise RpcError(INVALID_PARAMS, f"Unknown tool: {call.name[:100]!r}; see tools/list.")
        try:
            arguments = tool.arguments.model_validate(call.arguments or {})
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in error.errors())
            return text_result(f"Invalid arguments for {tool.name}: {problems}", is_error=True)
        return tool.run(self, arguments)


def denied_actions(user_id: str) -> set[str]:
    """The actions the owner set to Never (a call to one anyway is refused and audited by the command path)."""
    from flask import current_app

    return current_app.extensions["sylo"].commands.policies.denied(user_id)


def request_params(model: type[BaseModel], params: dict) -> Any:
    """A method's params in the SDK's own shape, or -32602 saying which field is wrong."""
    try:
        return model.model_validate(params)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(map(str, first["loc"])) or "params"
        raise RpcError(INVALID_PARAMS, f"Invalid params: {where}: {first['msg']}.") from None


def list_context_docs(context: UserContext, _arguments: NoArguments) -> types.CallToolResult:
    manifest = context.store.manifest(context.user_id) or {}
    documents = [{"name": doc.name, "kind": doc.kind, "format": doc.format, "title": doc.title,
                  "uri": URI_PREFIX + doc.name, "bytes": doc.bytes, "generated_at": doc.generated_at}
                 for doc in context.readable_documents()]
    if not documents:
        return text_result("Nothing has been exported for you yet: connect a service and let the pipeline run.",
                           is_error=True)
    return text_result({"as_of": manifest.get("as_of"), "documents": documents})


def get_context_doc(context: UserContext, arguments: GetContextDoc) -> types.CallToolResult:
    """The document as text; with a structured copy (the parsed JSON, for format json) matching the output schema."""
    if not context.may_read(arguments.kind):
        return text_result(context.cannot_read(arguments.kind), is_error=True)
    document = context.store.read(context.user_id, arguments.kind, arguments.format)
    if document is None:
        return text_result(f"{arguments.kind}.{arguments.format} has not been exported for you yet; "
                           "call list_context_docs to see what exists.", is_error=True)
    text = document.body.decode("utf-8")
    listed = {doc.name: doc for doc in context.store.documents(context.user_id)}
    listing = listed.get(f"{arguments.kind}.{arguments.format}")
    structured = {"kind": arguments.kind, "format": arguments.format,
                  "uri": f"{URI_PREFIX}{arguments.kind}.{arguments.format}",
                  "generated_at": listing.generated_at if listing else None}
    structured |= {"document": json.loads(text)} if arguments.format == "json" else {"text": text}
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], structured_content=structured,
                                is_error=False)


def get_command_status(context: UserContext, arguments: GetCommandStatus) -> types.CallToolResult:
    from api.commands import describe, read_command

    command = read_command(arguments.command_id, context.user_id)
    if command is None:
        return text_result(f"You have no command {arguments.command_id}.", is_error=True)
    return text_result(describe(command))


READ_TOOLS = [
    Tool("list_context_docs", "List context documents",
         "List the studio context documents available to you (projects, communications, tasks, financials and "
         "the 'all' briefing), with their formats and when each was generated.", NoArguments, list_context_docs),
    Tool("get_context_doc", "Read a context document",
         "Read one context document. Start with kind 'all' (a briefing, most important first); use format json for "
         "exact fields and the ids the action tools take, such as financials' overdue_invoices[].id or tasks' "
         "overdue[].id. Each body says in `availability` whether Sylo knows its facts (a service not connected "
         "means unknown, never 'none').", GetContextDoc, get_context_doc, output_schema=CONTEXT_DOC_OUTPUT),
    Tool("get_command_status", "Check a command",
         "Read where a command you sent stands: awaiting_approval (the studio owner has not decided yet; check "
         "again later), queued, delivering, delivered (with the workflow's result), running (a long job such as a "
         "video; check again later), succeeded (with its result), failed (with the reason), declined (the owner "
         "said no) or expired (the owner did not answer in time).", GetCommandStatus, get_command_status,
         scope=WRITE),
]


def tool_arguments(action: Action) -> type[BaseModel]:
    """The action's params plus the optional idempotency key, which is never forwarded."""
    return create_model(f"{action.params.__name__}Call", __base__=action.params,
                        idempotency_key=(str | None, Field(None, min_length=1, max_length=200,
                                                           pattern=r"^[\x21-\x7e]+$", description=IDEMPOTENCY_KEY)))


def send_command(action: Action) -> Callable[[UserContext, Any], types.CallToolResult]:
    """A tool that sends `action` through the same path as a signed command: audit, outbox, n8n."""

    def run(context: UserContext, arguments: BaseModel) -> types.CallToolResult:
        import uuid

        from flask import current_app

        service = current_app.extensions["sylo"].commands
        key = getattr(arguments, "idempotency_key", None)
        params = arguments.model_dump(mode="json", exclude_none=True, exclude={"idempotency_key"})
        # "." never appears in a signed command's webhook-id, so a key cannot collide with one.
        message_id = f"mcp.{key}" if key else "mcp_" + uuid.uuid4().hex
        try:
            submitted = service.submit(context.user_id, message_id, {"action": action.name, "params": params}, "mcp")
        except Refused as refused:
            return text_result(f"{action.tool_name} was refused: {refused.detail}", is_error=True)
        return command_result(action, submitted.command, submitted.replayed, params)

    return run


def command_result(action: Action, command, replayed: bool, params: dict) -> types.CallToolResult:
    """What the model learns: where the command stands, in a sentence it can relay."""
    from api.commands import NOTES

    if replayed and (command.action != action.name or command.params != action.params.model_validate(params)
                     .model_dump(mode="json", exclude_none=True)):
        return text_result(f"This idempotency_key was already used for another command ({command.id}, "
                           f"{command.action}); use a new key for a new action.", is_error=True)
    summary = {"id": command.id, "action": command.action, "status": command.status}
    if replayed:
        summary["note"] = "Already sent with this idempotency_key: this is the first command, not a new one."
    if command.status in ("delivered", "succeeded"):
        return text_result({**summary, "result": command.result})
    if command.status == "failed":
        return text_result(f"{action.tool_name} failed: {command.last_error}", is_error=True)
    if command.status in NOTES:
        summary["note"] = NOTES[command.status] + f" The command id is {command.id}."
        return text_result(summary, is_error=command.status != "awaiting_approval")
    summary.setdefault("note", "Accepted and queued; it will be delivered to the studio's workflow. Check it with "
                               "get_command_status.")
    return text_result(summary)


def command_tools() -> list[Tool]:
    return [Tool(action.tool_name, action.name.replace(".", ": ").replace("_", " ").capitalize(),
                 action.description + " Goes to the studio's n8n workflow; the result comes back when it answers "
                 "within a few seconds, otherwise the command is queued and delivered."
                 + (" Reaches outside the studio, so by default it waits for the studio owner's approval first."
                    if action.reaches_outside else ""),
                 tool_arguments(action), send_command(action), scope=WRITE, read_only=False,
                 destructive=action.destructive)
            for action in CATALOG.values()]

