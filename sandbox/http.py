"""Request and response shapes shared by the sandbox's emulators: JSON, Nango's errors, HTML pages."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from werkzeug.datastructures import Headers, MultiDict
from werkzeug.wrappers import Response

if TYPE_CHECKING:
    from sandbox.connections import Connection
    from sandbox.limits import Limits
    from sandbox.world import UserWorld

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "sandbox"


def dumps(obj: Any, indent: int | None = None) -> bytes:
    if indent:
        return json.dumps(obj, indent=indent, ensure_ascii=False).encode()
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(obj), status=status, headers=headers, content_type="application/json; charset=utf-8")


def nango_error(status: int, code: str, message: str | None = None, **extra: Any) -> Response:
    """Nango's standard envelope: `{"error": {"code", "message"?, "errors"?, "payload"?}}`."""
    error: dict[str, Any] = {"code": code}
    if message is not None:
        error["message"] = message
    error.update(extra)
    return json_response({"error": error}, status)


class Pages:
    """The sandbox's HTML pages (its home and Nango's Connect UI), from `templates/sandbox/`."""

    def __init__(self, folder: Path = TEMPLATES):
        self.jinja = Environment(loader=FileSystemLoader(folder), autoescape=select_autoescape())

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        """Render one template as an HTML response."""
        html = self.jinja.get_template(template).render(**context)
        return Response(html, status=status, content_type="text/html; charset=utf-8")


@dataclass
class Upstream:
    """A request as the provider receives it from Nango: only forwarded headers survive."""

    method: str
    path: str
    args: MultiDict
    headers: Headers
    body: bytes
    account: UserWorld
    connection: Connection
    limits: Limits
    clock_ms: int

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    """A provider's answer. `data` is kept beside the bytes so faults can corrupt a record."""

    status: int
    data: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    indent: int | None = None

    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return dumps(self.data, self.indent)

    def content_type(self) -> str:
        return self.headers.get("Content-Type", "application/json; charset=UTF-8")
