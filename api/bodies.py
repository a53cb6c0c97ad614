"""Request input: bodies read to at most a route's limit, chunked or not; JSON with bounded nesting; no NUL.

Every route that takes a body reads it here, so no route can be made to read past its limit by
leaving out Content-Length (`Transfer-Encoding: chunked`): the stream is read to at most
limit + 1 bytes, whatever the headers say. JSON is refused, not recursed into, when it nests
deeper than any message Sylo takes needs, and strings must be real Unicode (a lone surrogate
cannot be stored, logged or forwarded). A NUL anywhere in the path, query or a form is refused
before any view runs: no input Sylo takes contains one, and Postgres refuses it in every query.
"""

from __future__ import annotations

import json
import re

from flask import abort, request

CHUNK = 64 * 1024
MAX_DEPTH = 64  # the deepest real message (an MCP tool call with its arguments) is under 10
_SURROGATE = re.compile("[\ud800-\udfff]")
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class BodyTooLarge(Exception):
    """The body is longer than the route accepts."""

    def __init__(self, limit: int):
        super().__init__(f"bodies are limited to {limit} bytes")
        self.limit = limit


class InvalidJson(ValueError):
    """The body is not JSON a route can take; the message says why."""


def refuse_nul() -> None:
    """Before every request: 400 when the path, a query parameter or a form field holds a NUL."""
    values = [request.path, *request.args.keys(), *request.args.values()]
    if request.method == "POST" and request.mimetype in FORMS:  # only dashboard forms: JSON routes read raw bytes
        values += [*request.form.keys(), *request.form.values()]
    if any("\x00" in value for value in values):
        abort(400, description="The request holds a NUL character, which no address, parameter or form field "
                               "can contain.")


def read_body(limit: int) -> bytes:
    """The raw body, reading no more than limit + 1 bytes; BodyTooLarge past `limit`."""
    if (request.content_length or 0) > limit:
        raise BodyTooLarge(limit)
    stream, chunks, size = request.stream, [], 0
    while size <= limit:
        chunk = stream.read(min(CHUNK, limit + 1 - size))  # a read may return less than asked: loop to EOF
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise BodyTooLarge(limit)
    return b"".join(chunks)


def parse_json(body: bytes, max_depth: int = MAX_DEPTH) -> object:
    """The JSON value in `body`; InvalidJson for bad syntax, bad UTF-8, deep nesting or lone surrogates."""
    try:
        value = json.loads(body)
    except RecursionError:
        raise InvalidJson(f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as error:  # UnicodeDecodeError included
        raise InvalidJson(f"not valid JSON ({type(error).__name__})") from None
    _check(value, max_depth)
    return value


def _check(value: object, max_depth: int) -> None:
    """Walk the value without recursion: nesting depth, and strings that are real Unicode."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise InvalidJson("a JSON string holds a lone surrogate (\\ud800-\\udfff), not a character")
            continue
        if not isinstance(item, (dict, list)):
            continue
        if depth >= max_depth:
            raise InvalidJson(f"JSON nested deeper than {max_depth} levels")
        children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
        pending.extend((child, depth + 1) for child in children)
