"""What the MCP server offers one user: their documents as resources, and tools that read them.

Resources are attached by the host application; models can only call tools, so the same
documents are reachable through `list_context_docs` and `get_context_doc` (reference/protocols.md §1.4).
Tool failures a model can act on (a document not exported yet, a bad argument) are results with
`isError: true`; an unknown tool is a protocol error.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Literal

import mcp_types as types
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.document_store import FORMATS, KINDS, DocumentStore
from api.mcp_protocol import INVALID_PARAMS, Era, RpcError
from sylo.commands.catalog import CATALOG, Action
from sylo.commands.service import Refused

URI_PREFIX = "sylo://context/"
URI_TEMPLATE = URI_PREFIX + "{kind}.{format}"


class NoArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GetCommandStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command_id: str = Field(pattern=r"^cmd_[0-9a-f]{24}$",
                            description="The id a command tool returned when you sent the command (cmd_...).")


class GetContextDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal[KINDS] = Field(description="Which document: 'all' is the briefing that fits a token budget.")
    format: Literal[FORMATS] = Field("md", description="md for reading, json or yaml for exact fields.")


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    description: str
    arguments: type[BaseModel]
    run: Callable[["UserContext", Any], types.CallToolResult]
    read_only: bool = True
    destructive: bool = False

    def describe(self) -> types.Tool:
        schema = self.arguments.model_json_schema()
        schema.pop("title", None)
        return types.Tool(name=self.name, title=self.title, description=self.description, input_schema=schema,
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
    """One caller's view: every handler here sees only `user_id`'s export."""

    def __init__(self, store: DocumentStore, user_id: str, tools: list[Tool]):
        self.store, self.user_id = store, user_id
        self.tools = {tool.name: tool for tool in tools}

    def methods(self) -> dict[str, Callable[[dict, Era], Any]]:
        return {"resources/list": self.list_resources, "resources/templates/list": self.list_templates,
                "resources/read": self.read_resource, "tools/list": self.list_tools, "tools/call": self.call_tool}

    def list_resources(self, _params: dict, _era: Era) -> types.ListResourcesResult:
        resources = [types.Resource(uri=URI_PREFIX + doc.name, name=doc.name, title=doc.title,
                                    description=f"Your {doc.title.lower()}, exported {doc.generated_at}.",
                                    mime_type=doc.media_type.split(";")[0], size=doc.bytes)
                     for doc in self.store.documents(self.user_id)]
        return types.ListResourcesResult(resources=resources, ttl_ms=0, cache_scope="private")

    def list_templates(self, _params: dict, _era: Era) -> types.ListResourceTemplatesResult:
        template = types.ResourceTemplate(
            uri_template=URI_TEMPLATE, name="context-document", title="Context document",
            description=f"kind is one of {', '.join(KINDS)}; format one of {', '.join(FORMATS)}.")
        return types.ListResourceTemplatesResult(resource_templates=[template], ttl_ms=0, cache_scope="private")

    def read_resource(self, params: dict, era: Era) -> types.ReadResourceResult:
        uri = params.get("uri")
        if not isinstance(uri, str):
            raise RpcError(INVALID_PARAMS, "resources/read needs params.uri, a string.")
        kind, _, fmt = uri.removeprefix(URI_PREFIX).partition(".") if uri.startswith(URI_PREFIX) else ("", "", "")
        document = self.store.read(self.user_id, kind, fmt) if kind in KINDS and fmt in FORMATS else None
        if document is None:
            raise RpcError(era.not_found_code(), f"Resource not found: {uri}", {"uri": uri})
        content = types.TextResourceContents(uri=uri, mime_type=document.media_type.split(";")[0],
                                             text=document.body.decode("utf-8"))
        return types.ReadResourceResult(contents=[content], ttl_ms=0, cache_scope="private")

    def list_tools(self, _params: dict, _era: Era) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[tool.describe() for tool in self.tools.values()], ttl_ms=0,
                                     cache_scope="private")

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
                 for doc in context.store.documents(context.user_id)]
    if not documents:
        return text_result("Nothing has been exported for you yet: connect a service and let the pipeline run.",
                           is_error=True)
    return text_result({"as_of": manifest.get("as_of"), "documents": documents})


def get_context_doc(context: UserContext, arguments: GetContextDoc) -> types.CallToolResult:
    document = context.store.read(context.user_id, arguments.kind, arguments.format)
    if document is None:
        return text_result(f"{arguments.kind}.{arguments.format} has not been exported for you yet; "
                           "call list_context_docs to see what exists.", is_error=True)
    return types.CallToolResult(content=[types.TextContent(type="text", text=document.body.decode("utf-8"))],
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
         "Read one context document. Start with kind 'all' (a briefing, most important first); use json for "
         "exact fields such as financials.overdue_invoices or tasks.overdue.", GetContextDoc, get_context_doc),
    Tool("get_command_status", "Check a command",
         "Read where a command you sent stands: queued, delivering, delivered (with the workflow's result), "
         "running (a long job such as a video; check again later), succeeded (with its result) or failed (with "
         "the reason).", GetCommandStatus, get_command_status),
]


def send_command(action: Action) -> Callable[[UserContext, Any], types.CallToolResult]:
    """A tool that sends `action` through the same path as a signed command: audit, outbox, n8n."""

    def run(context: UserContext, arguments: BaseModel) -> types.CallToolResult:
        from flask import current_app

        service = current_app.extensions["sylo"].commands
        payload = {"action": action.name, "params": arguments.model_dump(mode="json", exclude_none=True)}
        try:
            submitted = service.submit(context.user_id, "mcp_" + uuid.uuid4().hex, payload, "mcp")
        except Refused as refused:
            return text_result(f"{action.name} was refused: {refused.detail}", is_error=True)
        command = submitted.command
        summary = {"id": command.id, "action": command.action, "status": command.status}
        if command.status == "delivered":
            return text_result({**summary, "result": command.result})
        if command.status == "failed":
            return text_result(f"{action.name} failed: {command.last_error}", is_error=True)
        return text_result({**summary, "note": "Accepted and queued; it will be delivered to the studio's "
                                               "workflow. Nothing more is needed from you."})

    return run


def command_tools() -> list[Tool]:
    return [Tool(action.name, action.name.replace(".", ": ").replace("_", " ").capitalize(),
                 action.description + " Goes to the studio's n8n workflow; the result comes back when it answers "
                 "within a few seconds, otherwise the command is queued and delivered.",
                 action.params, send_command(action), read_only=False, destructive=action.destructive)
            for action in CATALOG.values()]
