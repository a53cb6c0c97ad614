"""MCP client configs, each in the exact format its client reads (reference/protocols.md §1.8, §1.8b).

Two variants. The shareable one (exported, served, safe to commit) never holds a secret:
Claude Code, Cursor and VS Code read the token from a reference each of them expands
(`${SYLO_API_TOKEN}`, `${env:SYLO_API_TOKEN}`, `${input:sylo-api-token}`); Claude Desktop's
bridge, `mcp-remote`, gets no header at all and signs in with OAuth in the browser, because
Claude Desktop passes `env` values verbatim (a `${...}` there reaches the server literally) and its
file only starts stdio servers. The personal variant (`token=`) writes the owner's token in, for
their own user-scope file: Claude Desktop's then sends it through `mcp-remote --header`, the space
inside the env value (some clients mangle spaces in args).
Each shareable config is checked against the JSON Schema the project keeps in `schemas/mcp/`.
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
VSCODE_INPUT = "sylo-api-token"


def endpoint(public_url: str) -> str:
    return public_url.rstrip("/") + "/mcp"


def config(client: str, public_url: str, token: str | None = None) -> dict:
    """`client`'s config for this server: shareable, or personal with `token` written in."""
    url = endpoint(public_url)
    if client == "claude-code":
        bearer = f"Bearer {token}" if token else f"Bearer ${{{TOKEN_VARIABLE}}}"
        return {"mcpServers": {SERVER: {"type": "http", "url": url, "headers": {"Authorization": bearer}}}}
    if client == "cursor":
        bearer = f"Bearer {token}" if token else f"Bearer ${{env:{TOKEN_VARIABLE}}}"
        return {"mcpServers": {SERVER: {"url": url, "headers": {"Authorization": bearer}}}}
    if client == "vscode":
        server = {"type": "http", "url": url,
                  "headers": {"Authorization": f"Bearer {token}" if token else f"Bearer ${{input:{VSCODE_INPUT}}}"}}
        if token:
            return {"servers": {SERVER: server}}
        return {"inputs": [{"type": "promptString", "id": VSCODE_INPUT, "description": "Sylo API token",
                            "password": True}], "servers": {SERVER: server}}
    if client == "claude-desktop":
        return {"mcpServers": {SERVER: _mcp_remote(url, token)}}
    raise ValueError(f"no config for client {client!r}; clients are {', '.join(CLIENTS)}")


def _mcp_remote(url: str, token: str | None) -> dict:
    """Claude Desktop starts `npx mcp-remote`, which signs in with OAuth, or sends the token it is given."""
    args = ["-y", "mcp-remote", url, "--transport", "http-only"]
    if urlparse(url).scheme == "http" and urlparse(url).hostname not in ("localhost", "127.0.0.1"):
        args.append("--allow-http")  # mcp-remote refuses plain http beyond localhost otherwise
    if token is None:
        return {"command": "npx", "args": args}
    return {"command": "npx", "args": [*args, "--header", "Authorization:${SYLO_AUTH}"],
            "env": {"SYLO_AUTH": f"Bearer {token}"}}


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
