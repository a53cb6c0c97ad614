"""`/v1/context` and `/v1/mcp/config`: the caller's exported documents and MCP client configs.

`document_reply` is the one place that decides what `GET /v1/context/<kind>[.<fmt>]` answers
(the kind and format, what the token may read, content negotiation, the ETag and 304, caching
headers); the Flask view and the fast path (`api/fastpath.py`) only translate its `Reply`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from flask import Blueprint, Response, current_app, request, url_for
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from api.auth import Caller, authenticate, bearer_token
from api.document_store import CLIENTS, FORMATS, KINDS, DocumentStore
from api.problems import Problem
from sylo import mcp_configs

bp = Blueprint("context", __name__)

# Media types an Accept header may name for each format, best first.
ACCEPTED = {"md": ("text/markdown", "text/plain"), "json": ("application/json",),
            "yaml": ("application/yaml", "application/x-yaml", "text/yaml")}


def _sylo():
    return current_app.extensions["sylo"]


@bp.get("/v1/context")
def list_documents() -> Response:
    """List the documents the caller may read, with links to each."""
    caller = authenticate()
    store = _sylo().documents
    manifest = store.manifest(caller.user_id) or {}
    documents = [{"name": doc.name, "kind": doc.kind, "format": doc.format, "title": doc.title,
                  "media_type": doc.media_type, "bytes": doc.bytes, "generated_at": doc.generated_at,
                  "url": external_url("context.get_document", name=doc.name)}
                 for doc in store.documents(caller.user_id) if caller.may_read(doc.kind)]
    body = {"user_id": caller.user_id, "as_of": manifest.get("as_of"), "documents": documents,
            "kinds": list(caller.readable), "formats": list(FORMATS)}
    if not documents:
        body["note"] = "Nothing exported yet: connect a service and let the pipeline run."
    response = current_app.json.response(body)
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["Vary"] = "Authorization"
    return response


@bp.get("/v1/context/<name>")
def get_document(name: str) -> Response:
    """Serve one exported document, by extension or by the Accept header."""
    reply = document_reply(_sylo().documents, authenticate(), name, request.headers.get("Accept"),
                           request.headers.get("If-None-Match"))
    return Response(reply.body, status=reply.status, headers=reply.headers, content_type=reply.media_type)


@dataclass(frozen=True)
class Reply:
    """What `GET /v1/context/<name>` answers when it answers with a document (or a 304)."""
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    media_type: str | None = None


def document_reply(store: DocumentStore, caller: Caller, name: str, accept: str | None,
                   if_none_match: str | None) -> Reply:
    """One document for `caller`, or raise the problem that says why not (404, 403, 406)."""
    kind, dot, ext = name.partition(".")
    if kind not in KINDS:
        raise Problem(404, "unknown-document", "Unknown document",
                      f"There is no document called {name!r}; kinds are {', '.join(KINDS)} "
                      f"and formats {', '.join(FORMATS)}, e.g. /v1/context/all.md.")
    if dot and ext not in FORMATS:
        raise Problem(404, "unknown-format", "Unknown format",
                      f"Documents come as {', '.join(FORMATS)}; {ext!r} is not one of them.")
    if not caller.may_read(kind):
        raise Problem(403, "kind-not-readable", "Forbidden", caller.cannot_read(kind), kind=kind,
                      readable=list(caller.readable))
    fmt = ext if dot else _negotiate(parse_accept_header(accept, MIMEAccept))
    document = store.read(caller.user_id, kind, fmt)
    if document is None:
        raise Problem(404, "not-exported", "Not exported yet",
                      f"{kind}.{fmt} has not been exported for you yet: connect a service and let the pipeline run.")
    headers = {"ETag": document.etag, "Cache-Control": "private, no-cache",
               "Vary": "Authorization" if dot else "Authorization, Accept"}
    if _matches(if_none_match, document.etag):
        return Reply(304, headers)
    return Reply(200, headers, document.body, document.media_type)


@bp.get("/v1/mcp/config")
def mcp_config() -> Response:
    """One MCP client's config for the caller, pointing at this server."""
    authenticate()
    client = request.args.get("client", "")
    variant = request.args.get("variant", "shareable")
    if client not in CLIENTS:
        raise Problem(400, "unknown-client", "Unknown MCP client",
                      f"Pass ?client= one of {', '.join(CLIENTS)}.", clients=list(CLIENTS))
    if variant not in ("shareable", "personal"):
        raise Problem(400, "unknown-variant", "Unknown variant",
                      "variant is 'shareable' (the token as a variable reference, safe to commit) "
                      "or 'personal' (your token written in, for your own user-scope file).")
    token = bearer_token() if variant == "personal" else None
    document = mcp_configs.config(client, public_url(), token=token)
    response = Response(json.dumps(document, indent=2) + "\n", content_type="application/json")
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Disposition"] = f'inline; filename="{client}.json"'
    return response


def public_url() -> str:
    """SYLO_PUBLIC_URL when the operator set it, else the URL this request came in on."""
    settings = _sylo().settings
    if "public_url" in settings.model_fields_set:
        return settings.public_url.rstrip("/")
    return request.host_url.rstrip("/")


def external_url(endpoint: str, **values) -> str:
    """An absolute link to a route, on SYLO_PUBLIC_URL when it is set: never on a Host header a caller chose."""
    if "public_url" not in _sylo().settings.model_fields_set:
        return url_for(endpoint, _external=True, **values)
    return public_url() + url_for(endpoint, **values).removeprefix(request.script_root)


def _negotiate(accept: MIMEAccept) -> str:
    if not accept:
        return "md"
    offers = [media for fmt in FORMATS for media in ACCEPTED[fmt]]
    best = accept.best_match(offers)
    if best is None:
        raise Problem(406, "not-acceptable", "Not Acceptable",
                      "Documents come as text/markdown, application/json or application/yaml.")
    return next(fmt for fmt in FORMATS if best in ACCEPTED[fmt])


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison, as RFC 9110 asks of If-None-Match."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    candidates = (tag.strip().removeprefix("W/") for tag in if_none_match.split(","))
    return etag in candidates
