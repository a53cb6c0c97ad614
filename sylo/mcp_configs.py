"""MCP client configs, each in the exact format its client reads (reference/protocols.md §1.8).

The token is always a reference (`${SYLO_API_TOKEN}`, `${env:...}`, `${input:...}`), never the
secret itself: these files are exported and served. Claude Desktop's file only starts stdio
servers, so `mcp-remote` bridges to the HTTP endpoint; it expands `${SYLO_AUTH}` from its env,
and the space sits inside that value, not in `args` (some clients mangle spaces in args).
Each config is checked against the JSON Schema the project keeps in `schemas/mcp/`.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

from jsonschema import Draft202012Validator

from sylo.export_layout import CLIENTS

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas" / "mcp"
SERVER = "sylo"
TOKEN_VARIABLE = "SYLO_API_TOKEN"


def endpoint(public_url: str) -> str:
    return public_url.rstrip("/") + "/mcp"


def config(client: str, public_url: str) -> dict:
    url = endpoint(public_url)
    if client == "claude-code":
        return {"mcpServers": {SERVER: {"type": "http", "url": url,
                                        "headers": {"Authorization": f"Bearer ${{{TOKEN_VARIABLE}}}"}}}}
    if client == "cursor":
        return {"mcpServers": {SERVER: {"url": url, "headers": {"Authorization": f"Bearer ${{env:{TOKEN_VARIABLE}}}"}}}}
    if client == "vscode":
        return {"inputs": [{"type": "promptString", "id": "sylo-api-token", "description": "Sylo API token",
                            "password": True}],
                "servers": {SERVER: {"type": "http", "url": url,
                                     "headers": {"Authorization": "Bearer ${input:sylo-api-token}"}}}}
    if client == "claude-desktop":
        args = ["-y", "mcp-remote", url, "--header", "Authorization:${SYLO_AUTH}", "--transport", "http-only"]
        if urlparse(url).scheme == "http" and urlparse(url).hostname not in ("localhost", "127.0.0.1"):
            args.append("--allow-http")  # mcp-remote refuses plain http beyond localhost otherwise
        return {"mcpServers": {SERVER: {"command": "npx", "args": args,
                                        "env": {"SYLO_AUTH": f"Bearer ${{{TOKEN_VARIABLE}}}"}}}}
    raise ValueError(f"no config for client {client!r}; clients are {', '.join(CLIENTS)}")


@cache
def validator(client: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((SCHEMA_DIR / f"{client}.schema.json").read_text()))


def validate(client: str, document: dict) -> None:
    """Raise ValueError naming the first problem if the config breaks its client's schema."""
    errors = sorted(validator(client).iter_errors(document), key=lambda e: list(e.path))
    if errors:
        path = "/".join(str(p) for p in errors[0].path) or "(root)"
        raise ValueError(f"{client} config is invalid at {path}: {errors[0].message}")


def render(client: str, public_url: str) -> bytes:
    document = config(client, public_url)
    validate(client, document)
    return (json.dumps(document, indent=2) + "\n").encode()
